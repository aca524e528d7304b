"""Inline completion end to end with canned model text (fixture: `client`, the scripted engine).

The canned replies still go through the real prompt, the stop rules, post-processing and the protocol.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from tests.lsp.lsp_support import open_document, ready_client_fixture

SCRIPT = Path(__file__).with_name("completion_script.json")
URI = "file:///tmp/gemma-lsp-test/calc.py"


def _write_script() -> Path:
    SCRIPT.write_text(json.dumps({"completion": [
        "return a + b\n```",
        "a * b)  # 😀 product\n```",
        {"text": "x" * 400, "delay": 0.05},
        "return a + b\n```",
    ]}))
    return SCRIPT


client = ready_client_fixture(_write_script())


def _params(line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))


async def test_completion_items_have_the_cursor_range(client: LanguageClient):
    open_document(client, URI, "def add(a, b):\n    \n")
    result = await client.text_document_inline_completion_async(_params(1, 4))
    assert [item.insert_text for item in result.items] == ["return a + b"]
    assert result.items[0].range == types.Range(types.Position(1, 4), types.Position(1, 4))

    # Mid-line after non-ASCII text: a single-line completion; the position is in UTF-16 code units
    # (the emoji takes two) and the repeated rest of the line is dropped.
    open_document(client, URI, "s = '😀'; mul(\n", version=2)
    result = await client.text_document_inline_completion_async(_params(0, 14))
    assert [item.insert_text for item in result.items] == ["a * b)  # 😀 product"]
    assert result.items[0].range.start == types.Position(0, 14)


async def test_cancel_request_gets_request_cancelled_and_frees_the_engine(client: LanguageClient):
    for n in range(2):  # use up the first two canned replies (other files: no cache hits)
        open_document(client, f"file:///tmp/gemma-lsp-test/other{n}.py", "def add(a, b):\n    \n")
        params = _params(1, 4)
        params.text_document.uri = f"file:///tmp/gemma-lsp-test/other{n}.py"
        await client.text_document_inline_completion_async(params)
    open_document(client, URI, "def add(a, b):\n    \n")
    msg_id = 987654
    # pytest-lsp's send_request_async is a coroutine: schedule it so the request goes out now.
    future = asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, _params(1, 4), msg_id=msg_id))
    await asyncio.sleep(0.5)  # the slow reply is streaming now
    client.cancel_request(types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(future, 10)
    result = await asyncio.wait_for(client.text_document_inline_completion_async(_params(1, 4)), 10)
    assert [item.insert_text for item in result.items] == ["return a + b"]


def _model_calls() -> int:
    log = SCRIPT.with_name(SCRIPT.stem + ".calls.jsonl")
    return len(log.read_text().splitlines()) if log.exists() else 0


async def test_typing_through_a_suggestion_needs_no_model_call(client: LanguageClient):
    open_document(client, URI, "def add(a, b):\n    \n")
    before = _model_calls()
    result = await client.text_document_inline_completion_async(_params(1, 4))
    assert [item.insert_text for item in result.items] == ["return a + b"]
    # The user types "ret": the rest comes from the cache (the next canned reply would be different).
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(1, 4), end=types.Position(1, 4)), text="ret")]))
    result = await client.text_document_inline_completion_async(_params(1, 7))
    assert [item.insert_text for item in result.items] == ["urn a + b"]
    assert _model_calls() == before + 1
    # Typing something else invalidates it: the model is asked again (the second canned reply).
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=3),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(1, 7), end=types.Position(1, 7)), text="x")]))
    result = await client.text_document_inline_completion_async(_params(1, 8))
    assert [item.insert_text for item in result.items] != ["rn a + b"]
    assert _model_calls() == before + 2


async def test_context_command_shows_what_the_model_would_see(client: LanguageClient):
    helper_uri = "file:///tmp/gemma-lsp-test/helpers.py"
    open_document(client, helper_uri, 'def scale(value, factor):\n    """Multiply value by factor."""\n    return value * factor\n')
    open_document(client, URI, "from helpers import scale\n\ndef double(x):\n    return scale(\n")
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.context", arguments=[{"uri": URI, "position": {"line": 3, "character": 17}}]))
    assert result["mode"] == "single"
    sources = {part["source"] for part in result["parts"]}
    assert {"prefix", "definition"} <= sources, sources  # the imports are inside the prefix window here
    definition = next(p for p in result["parts"] if p["source"] == "definition")
    assert "def scale(value, factor)" in definition["text"] and "return value * factor" not in definition["text"]
    assert "<CURSOR>" in result["prompt"] and result["prompt_tokens"] > 0
    assert all(part["tokens"] > 0 for part in result["parts"])


async def test_context_command_rejects_bad_arguments(client: LanguageClient):
    from pygls.exceptions import JsonRpcException

    for arguments in ([], [{"uri": URI}], [{"uri": "file:///not/open.py", "position": {"line": 0, "character": 0}}]):
        with pytest.raises(JsonRpcException) as error:
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="gemma.context", arguments=arguments))
        assert "gemma.context" in str(error.value) or "not open" in str(error.value)
