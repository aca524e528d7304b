"""gemma/nextEdit end to end: the real server over stdio, the user's keystrokes as didChange, the model's
rewrite canned by the scripted engine (purpose `next_edit`); the edit history, the prompt, the
diff-to-edit step and the protocol are all real."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.lsp.lsp_support import open_document, ready_client_fixture

FOLDER = Path(tempfile.mkdtemp(prefix="gemma-lsp-next-edit-"))
SCRIPT = FOLDER / "script.json"
URI = "file:///tmp/gemma-lsp-test/geometry.py"
TEXT = "def area(w, h):\n    return w * h\n\n\nprint(area(2, 3))\n"
RENAMED = "def area(width, h):\n    return width * h\n\n\nprint(area(2, 3))"


def _write_script() -> Path:
    SCRIPT.write_text(json.dumps({"next_edit": [
        RENAMED + "\n```",  # the rename carried on to the next use
        "def area(width, h):\n  return w * h\n\n\nprint(area(2, 3))\n```",  # only re-indents: no suggestion
        RENAMED + "\n```",  # answered after the settings turn suggestions off: never used
    ]}))
    return SCRIPT


client = ready_client_fixture(_write_script())


def _type(client: LanguageClient, version: int, line: int, character: int, text: str) -> int:
    """Send `text` one character a didChange, as an editor does while the user types."""
    for i, char in enumerate(text):
        version += 1
        at = types.Position(line, character + i)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(at, at), text=char)]))
    return version


def _delete(client: LanguageClient, version: int, line: int, start: int, end: int) -> int:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version + 1),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, start), types.Position(line, end)), text="")]))
    return version + 1


async def _next_edit(client: LanguageClient, line: int, character: int, version: int | None) -> Any:
    params: dict[str, Any] = {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}
    if version is not None:
        params["version"] = version
    result = await client.protocol.send_request_async("gemma/nextEdit", params)
    return _plain(result)


def _plain(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    return value


def _calls() -> list[dict]:
    log = SCRIPT.with_name("script.calls.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_a_rename_predicts_the_rename_of_the_next_use(client: LanguageClient):
    open_document(client, URI, TEXT)
    version = _delete(client, 1, 0, 9, 10)  # the user renames the parameter w ...
    version = _type(client, version, 0, 9, "width")  # ... typing the new name one key at a time
    result = await _next_edit(client, 0, 14, version)
    assert result == {
        "range": {"start": {"line": 1, "character": 12}, "end": {"line": 1, "character": 12}},
        "newText": "idth",  # the smallest edit: `w` becomes `width`
        "label": "line 2: w → width",
        "version": version,
    }
    (call,) = [c for c in _calls() if c["purpose"] == "next_edit"]
    prompt = call["prompt"]
    # The rename is one edit in the prompt, as a diff with the document's line numbers.
    assert "@@ -1,3 +1,3 @@\n-def area(w, h):\n+def area(width, h):\n     return w * h\n \n" in prompt
    assert "def area(width<CURSOR>, h):" in prompt

    # A rewrite that only re-indents is no suggestion; a stale version gets none without a model call.
    assert await _next_edit(client, 0, 14, version) is None
    assert await _next_edit(client, 0, 14, version - 1) is None
    assert len([c for c in _calls() if c["purpose"] == "next_edit"]) == 2


async def test_bad_params_get_a_clear_error_and_the_setting_turns_it_off(client: LanguageClient):
    before = len(_calls())
    with pytest.raises(JsonRpcInvalidParams, match="position needs non-negative integer"):
        await client.protocol.send_request_async("gemma/nextEdit", {
            "textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}})
    with pytest.raises(JsonRpcException, match="not open in the editor"):
        await _next_edit(client, 0, 0, None)
    open_document(client, URI, TEXT)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"gemma": {"nextEdit": {"enabled": False}}}))
    assert await _next_edit(client, 0, 0, 1) is None
    assert len(_calls()) == before  # no model call


SLOW_SCRIPT = FOLDER / "slow.json"
SLOW_SCRIPT.write_text(json.dumps({"next_edit": [{"text": RENAMED + "\n```", "delay": 0.2}]}))


slow_client = ready_client_fixture(SLOW_SCRIPT)


async def test_the_next_keystroke_supersedes_a_running_prediction(slow_client: LanguageClient):
    client = slow_client
    open_document(client, URI, TEXT)
    version = _delete(client, 1, 0, 9, 10)
    version = _type(client, version, 0, 9, "width")
    pending = asyncio.ensure_future(_next_edit(client, 0, 14, version))
    log = SLOW_SCRIPT.with_name("slow.calls.jsonl")
    await asyncio.sleep(0.5)  # the slow rewrite is streaming now (about 3 s in all)
    assert not pending.done()
    _type(client, version, 0, 14, "_")  # the user types on
    assert await asyncio.wait_for(pending, 30) is None
    for _ in range(300):  # the call log is written as the engine stops
        if log.exists() and log.read_text().strip():
            break
        await asyncio.sleep(0.05)
    (call,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["purpose"] == "next_edit" and call["finish_reason"] == "cancelled"
