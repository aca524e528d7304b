"""Weights that are not there: the server starts, says once what is missing and how to fix it, and
keeps answering with empty results (fixture: `client`, a preset with an empty Hugging Face cache)."""

from __future__ import annotations

import tempfile

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command, server_env
from tests.lsp.lsp_support import initialize, open_document, record_status, wait_for_status

EMPTY_CACHE = tempfile.mkdtemp(prefix="gemma-lsp-empty-hf-")


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=server_command("--model", "e2b", "--offline"),
    server_env=server_env(HF_HOME=EMPTY_CACHE, HF_HUB_CACHE=EMPTY_CACHE)))
async def client(lsp_client: LanguageClient):
    record_status(lsp_client)
    lsp_client.init_result = await initialize(lsp_client)  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


async def test_missing_weights_give_one_clear_message_and_empty_results(client: LanguageClient):
    assert client.init_result.capabilities.inline_completion_provider is not None  # type: ignore[attr-defined]
    status = await wait_for_status(client, {"error"}, timeout=60)
    assert "google/gemma-4-E2B-it" in status["message"]
    errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1, errors
    assert "hf download google/gemma-4-E2B-it google/gemma-4-E2B-it-assistant" in errors[0]

    uri = "file:///tmp/gemma-lsp-test/a.py"
    open_document(client, uri, "def f():\n    \n")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(1, 4),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))
    for _ in range(2):
        result = await client.text_document_inline_completion_async(params)
        assert not result.items
    assert len([m for m in client.messages if m.type == types.MessageType.Error]) == 1
    # A settings change pointing at a folder that does not exist is reported the same way.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"gemma": {"model": "/nonexistent/gemma-4-folder"}}))
    result = await client.text_document_inline_completion_async(params)
    assert not result.items
    assert any("Model folder not found" in m.message for m in client.messages)
