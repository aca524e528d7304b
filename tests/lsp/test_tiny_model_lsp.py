"""The same code-action path on the real tiny random Gemma 4 pair (fixture `client`, `--model tiny`).

Its output is gibberish, so resolving a Fix must end in the clear "no usable fix" refusal with nothing
changed, and an explanation still comes back as markdown: the real engine, prompt and codec all ran.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command, server_env
from tests.lsp.lsp_harness import gibberish_fix_explain_and_debug
from tests.lsp.lsp_support import (
    ready_in_workspace,
)

WORKSPACE = Path(tempfile.mkdtemp(prefix="gemma-tiny-features-"))
CALC = "def add(a, b):\n    return a - b\n"
(WORKSPACE / "calc.py").write_text(CALC)
URI = (WORKSPACE / "calc.py").as_uri()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=server_command("--model", "tiny"),
                                              server_env=server_env()))
async def client(lsp_client: LanguageClient):
    await ready_in_workspace(lsp_client, WORKSPACE, URI, CALC, clientRendersExplanations=True,
                             debug={"maxTokens": 96, "maxToolCalls": 2})
    yield
    await lsp_client.shutdown_session()


async def test_tiny_model_fix_refused_explain_and_debug_run(client: LanguageClient):
    # One server for all three (loading the model takes seconds).
    result = await gibberish_fix_explain_and_debug(client, URI)
    assert any("no usable fix" in m.message for m in client.messages)
    assert result["edit"] is None and result["editMessage"]
    assert result["transcript"].endswith(".md")
