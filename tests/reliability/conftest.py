"""Fixtures for the reliability suite: the real server as a subprocess on raw pipes.

`raw_server` is one scripted-engine server per module, initialized, with `DOC_URI` open; tests send it
hostile bytes and then check it still answers `probe()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.rpc import RawServer

DOC_URI = "file:///tmp/gemma-lsp-reliability/calc.py"
DOC_TEXT = "def add(a, b):\n    \n"
COMPLETION = "return a + b"


def write_script(folder: Path, replies: dict | None = None) -> Path:
    """A scripted-engine script whose completion reply is always COMPLETION."""
    path = folder / "script.json"
    path.write_text(json.dumps(replies or {"completion": [COMPLETION + "\n```"]}))
    return path


def open_doc(server: RawServer, uri: str = DOC_URI, text: str = DOC_TEXT, version: int = 1) -> None:
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": version, "text": text}})


def completion_params(line: int, character: int, uri: str = DOC_URI) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}}


def probe(server: RawServer, timeout: float = 20.0) -> None:
    """Assert the server still serves well-formed requests: status, then a real completion."""
    status = server.request("workspace/executeCommand", {"command": "gemma.status", "arguments": []}, timeout)
    assert status.get("result", {}).get("state") == "ready", status
    reply = server.request("textDocument/inlineCompletion", completion_params(1, 4), timeout)
    assert [item["insertText"] for item in reply["result"]["items"]] == [COMPLETION], reply


@pytest.fixture(scope="module")
def raw_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    folder = tmp_path_factory.mktemp("raw-server")
    script = write_script(folder)
    with RawServer("--model", "tiny", "--script", str(script), stderr_path=str(folder / "stderr.log")) as server:
        server.initialize()
        server.wait_status({"ready"})
        open_doc(server)
        probe(server)
        yield server
        reply = server.request("shutdown")
        assert reply.get("result", "missing") is None
        server.notify("exit")
        assert server.wait_exit() == 0
