"""A model folder whose configuration is larger than any machine's memory (fixture `client`): the server
measures the real memory (psutil), refuses before reading any weights, says what would fit in one
message, and keeps serving with empty results."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from transformers import Gemma4TextConfig

from gemma_lsp.models import shapes
from tests.conftest import server_command, server_env
from tests.lsp.lsp_support import initialize, open_document, record_status, wait_for_status

# The 31B configuration with 40 times its layers: about 1.2 trillion parameters, over 2 TiB in bf16. The
# folder has no weights at all: a memory check that ran after loading would fail differently.
HUGE = Path(tempfile.mkdtemp(prefix="gemma-huge-")) / "gemma-4-huge-it"
HUGE.mkdir()
_kwargs = shapes.target_kwargs("31b")
_kwargs.update(num_hidden_layers=60 * 40, layer_types=shapes.layer_types(60 * 40, 6))
(HUGE / "config.json").write_text(json.dumps(Gemma4TextConfig(**_kwargs).to_dict()))


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=server_command("--model", str(HUGE), "--no-drafter", "--device", "cpu", "--offline"),
    server_env=server_env()))
async def client(lsp_client: LanguageClient):
    record_status(lsp_client)
    await initialize(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def test_a_model_larger_than_memory_is_refused_with_what_would_fit(client: LanguageClient):
    status = await wait_for_status(client, {"error"}, timeout=120)
    assert f"Not enough memory for {HUGE} on cpu" in status["message"], status
    assert "GiB of RAM available" in status["message"]
    errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1, errors
    assert "fits here: set gemma.model to" in errors[0] or "No preset fits here" in errors[0], errors[0]
    uri = "file:///tmp/gemma-lsp-test/huge.py"
    open_document(client, uri, "def f():\n    \n")
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(1, 4),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert not result.items
