"""The suggestion as a completion item for clients without inline completion (Helix, eglot, Sublime,
Kate): the real server over stdio on the scripted engine (fixtures: `completion_client`, a client that
advertises only `textDocument/completion`, and `inline_client`, one that advertises inline completion).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command, server_env
from tests.lsp.lsp_harness import change, model_calls, write_script
from tests.lsp.lsp_support import initialize, open_document, record_status, wait_for_status

HERE = Path(tempfile.mkdtemp(prefix="gemma-completion-fallback-"))
SCRIPT = write_script(HERE, {"completion": ["urn a + b\n```", "total = 0\n    for x in xs:\n```"]})
URI = "file:///tmp/gemma-lsp-fallback/calc.py"


def completion_only() -> types.ClientCapabilities:
    """What Helix, eglot or Kate announce: completion (with resolve), no inline completion."""
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(dynamic_registration=False),
            completion=types.CompletionClientCapabilities(
                dynamic_registration=False,
                completion_item=types.ClientCompletionItemOptions(
                    snippet_support=False,
                    documentation_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText],
                    resolve_support=types.ClientCompletionItemResolveOptions(properties=["documentation"]),
                    insert_text_mode_support=types.ClientCompletionItemInsertTextModeOptions(
                        value_set=[types.InsertTextMode.AsIs, types.InsertTextMode.AdjustIndentation]),
                    preselect_support=True)),
        ))


def config() -> ClientServerConfig:
    return ClientServerConfig(server_command=server_command("--model", "tiny", "--script", str(SCRIPT)),
                              server_env=server_env())


@pytest_lsp.fixture(config=config())
async def completion_client(lsp_client: LanguageClient):
    SCRIPT.with_name("script.calls.jsonl").unlink(missing_ok=True)
    record_status(lsp_client)
    lsp_client.init_result = await lsp_client.initialize_session(types.InitializeParams(  # type: ignore[attr-defined]
        capabilities=completion_only(), client_info=types.ClientInfo(name="helix", version="25.07")))
    await wait_for_status(lsp_client, {"ready"})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config())
async def inline_client(lsp_client: LanguageClient):
    record_status(lsp_client)
    lsp_client.init_result = await initialize(lsp_client)  # type: ignore[attr-defined]
    await wait_for_status(lsp_client, {"ready"})
    yield
    await lsp_client.shutdown_session()


def params(line: int, character: int) -> types.CompletionParams:
    return types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=URI),
                                  position=types.Position(line, character))


def edited(text: str, edit: types.TextEdit) -> str:
    """The text after the client applies `edit` (one line, ASCII: characters are columns)."""
    lines = text.split("\n")
    line = edit.range.start.line
    row = lines[line]
    lines[line] = row[:edit.range.start.character] + edit.new_text + row[edit.range.end.character:]
    return "\n".join(lines)


async def test_completion_only_clients_get_the_suggestion_as_one_item(completion_client: LanguageClient):
    provider = completion_client.init_result.capabilities.completion_provider  # type: ignore[attr-defined]
    assert provider is not None and provider.resolve_provider is True
    text = "def add(a, b):\n    ret\n"
    open_document(completion_client, URI, text)
    result = await completion_client.text_document_completion_async(params(1, 7))
    assert isinstance(result, types.CompletionList) and result.is_incomplete is True
    (item,) = result.items
    # The item replaces the typed word "ret" with the word plus the suggestion, and sorts first.
    assert item.text_edit == types.TextEdit(range=types.Range(types.Position(1, 4), types.Position(1, 7)),
                                            new_text="return a + b")
    assert (item.label, item.detail, item.filter_text) == ("return a + b", "Gemma", "return a + b")
    assert item.preselect is True and item.sort_text == "!"
    assert item.insert_text_mode == types.InsertTextMode.AsIs and item.documentation is None
    assert edited(text, item.text_edit) == "def add(a, b):\n    return a + b\n"
    # Lazily resolved: the documentation shows the whole suggestion.
    resolved = await completion_client.completion_item_resolve_async(item)
    assert resolved.documentation == types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                         value="```python\nreturn a + b\n```")
    # Typing on through the suggestion: the client asks again and the cache answers, no model call.
    change(completion_client, URI, 2, "def add(a, b):\n    retu\n")
    (again,) = (await completion_client.text_document_completion_async(params(1, 8))).items
    assert again.text_edit.range.start == types.Position(1, 4) and again.text_edit.new_text == "return a + b"
    assert len(await asyncio.to_thread(model_calls, SCRIPT)) == 1


async def test_a_multi_line_suggestion_after_blank_space(completion_client: LanguageClient):
    open_document(completion_client, URI, "def add(a, b):\n    return a + b\n")
    await completion_client.text_document_completion_async(params(1, 16))  # uses up the first reply
    text = "def total(xs):\n    \n"
    open_document(completion_client, URI, text, version=2)
    (item,) = (await completion_client.text_document_completion_async(params(1, 4))).items
    assert item.text_edit.range == types.Range(types.Position(1, 4), types.Position(1, 4))
    assert item.text_edit.new_text == "total = 0\n    for x in xs:"
    assert item.label == "total = 0…"


async def test_inline_clients_get_no_completion_provider(inline_client: LanguageClient):
    assert inline_client.init_result.capabilities.completion_provider is None  # type: ignore[attr-defined]
    assert inline_client.init_result.capabilities.inline_completion_provider is not None  # type: ignore[attr-defined]
    open_document(inline_client, URI, "def add(a, b):\n    ret\n")
    with pytest.raises(JsonRpcMethodNotFound):
        await inline_client.text_document_completion_async(params(1, 7))
