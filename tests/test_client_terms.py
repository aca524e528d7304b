"""client_terms: who the client is, and how its users spell a setting."""

from __future__ import annotations

import pytest

from gemma_lsp import client_terms
from gemma_lsp.client_terms import identify, setting_name


@pytest.mark.parametrize(("options", "name", "kind"), [
    ({"gemma": {"client": "neovim"}}, "Visual Studio Code", "neovim"),  # what the client says wins
    ({"client": "vscode"}, None, "vscode"),  # bare options
    (None, "Neovim", "neovim"),
    (None, "Visual Studio Code", "vscode"),
    ({"gemma": {}}, "code-server", "vscode"),
    ({"gemma": {"client": "helix"}}, "helix", None),
    (None, "Emacs", None),
    ("not an object", None, None),
])
def test_identify(options, name, kind):
    assert identify(options, name) == kind


def test_setting_names_follow_the_client():
    try:
        client_terms.set_client("neovim")
        assert setting_name("model") == "server.settings.model"
        assert setting_name("remote.url") == "server.settings.remote.url"
        client_terms.set_client("vscode")
        assert setting_name("maxContextTokens") == "gemma.maxContextTokens"
        client_terms.set_client(None)
        assert setting_name("model") == "gemma.model"
    finally:
        client_terms.set_client(None)
