"""Setting names in messages, spelled as the connected client's users write them.

A message that asks the user to change a setting must name it where they would change it: VS Code
users write `gemma.model` in settings.json, Neovim users `server.settings.model` in the plugin's
`setup()`, users of other LSP clients the server setting `gemma.model` (the `gemma` object of
initializationOptions or workspace/didChangeConfiguration). The client says who it is in
`initializationOptions.gemma.client` ("vscode" | "neovim"); else its `clientInfo.name` is used.

A server process serves one client, so the client is recorded once, at initialize, for every layer
to spell with (`setting_name`); before that (command-line use) settings read as `gemma.<key>`.
"""

from __future__ import annotations

from typing import Any

VSCODE = "vscode"
NEOVIM = "neovim"

# clientInfo.name of clients that did not say who they are (lower case, as a part of the name).
_NAMES = {NEOVIM: ("neovim", "nvim"),
          VSCODE: ("visual studio code", "vscode", "code - oss", "vscodium", "code-server")}

_client: str | None = None


def identify(initialization_options: Any, client_name: str | None) -> str | None:
    """The client kind from `initializationOptions` (`{"gemma": {"client": ...}}` or bare), else from
    `clientInfo.name`; None for any other client."""
    options = initialization_options if isinstance(initialization_options, dict) else {}
    if isinstance(options.get("gemma"), dict):
        options = options["gemma"]
    said = options.get("client")
    if isinstance(said, str) and said.lower() in _NAMES:
        return said.lower()
    name = (client_name or "").lower()
    return next((kind for kind, parts in _NAMES.items() if any(part in name for part in parts)), None)


def set_client(kind: str | None) -> None:
    """Record who the connected client is (called at initialize)."""
    global _client
    _client = kind


def client() -> str | None:
    return _client


def setting_name(key: str) -> str:
    """How the connected client's users write the setting `key` (dotted camelCase as in the schema,
    e.g. "model", "maxContextTokens", "remote.url")."""
    if _client == NEOVIM:
        return f"server.settings.{key}"
    return f"gemma.{key}"
