"""A folder laid out exactly like a released -it checkpoint and its -assistant drafter, served end to end.

The server runs as a subprocess with `--model FOLDER --drafter-model FOLDER` (fixture `client`): the
multimodal checkpoint loads as its text model only, and completion, explain, fix and a debug session
all run on it. The tiny pair's output is gibberish, so Fix ends in the clear refusal and the debug
session ends within its limits; what matters is that every path ran on the real layout.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from gemma_lsp.models import tiny
from tests.conftest import server_command, server_env
from tests.lsp.lsp_harness import gibberish_fix_explain_and_debug
from tests.lsp.lsp_support import (
    ready_in_workspace,
)

ROOT = Path(tempfile.mkdtemp(prefix="gemma-checkpoint-folder-"))
TARGET, DRAFTER = tiny.save(ROOT / "models")
WORKSPACE = ROOT / "workspace"
WORKSPACE.mkdir()
CALC = "def add(a, b):\n    return a - b\n"
(WORKSPACE / "calc.py").write_text(CALC)
URI = (WORKSPACE / "calc.py").as_uri()


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def test_folders_are_laid_out_like_the_released_checkpoints():
    files = {p.name for p in TARGET.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "chat_template.jinja"} <= files
    config = json.loads((TARGET / "config.json").read_text())
    assert config["model_type"] == "gemma4" and config["architectures"] == ["Gemma4ForConditionalGeneration"]
    assert config["text_config"]["model_type"] == "gemma4_text" and config["vision_config"] is not None
    # The template is the top-level file (as in the released folders), the one the tokenizer carries.
    assert (TARGET / "chat_template.jinja").read_text() == tiny.build_tokenizer().chat_template
    assert "chat_template" not in json.loads((TARGET / "tokenizer_config.json").read_text())
    drafter = json.loads((DRAFTER / "config.json").read_text())
    assert drafter["model_type"] == "gemma4_assistant"
    assert drafter["architectures"] == ["Gemma4AssistantForCausalLM"]
    assert drafter["use_ordered_embeddings"] is True
    assert drafter["backbone_hidden_size"] == config["text_config"]["hidden_size"]
    from safetensors import safe_open

    with safe_open(str(TARGET / "model.safetensors"), framework="pt") as weights:
        keys = list(weights.keys())
    assert any(k.startswith("model.vision_tower.") for k in keys)
    assert any(k.startswith("model.language_model.layers.") for k in keys)


def test_the_loader_reads_the_text_model_only_and_it_matches_the_multimodal_model():
    import torch

    from gemma_lsp.engine.speculative import greedy_reference
    from gemma_lsp.models import loader, presets

    loaded = loader.load(presets.resolve(str(TARGET), str(DRAFTER)), device="cpu")
    assert type(loaded.target).__name__ == "Gemma4ForCausalLM"
    assert type(loaded.drafter).__name__ == "Gemma4AssistantForCausalLM"
    names = [name for name, _ in loaded.target.named_parameters()]
    assert not any("vision" in name or "audio" in name for name in names)
    assert 0 < loaded.loaded_bytes < loaded.checkpoint_bytes
    reference = tiny.build()  # the very model that was saved, multimodal class
    stored = {k: t for k, t in reference.target.state_dict().items() if k != "lm_head.weight"}  # tied
    assert loaded.checkpoint_bytes == sum(t.numel() for t in stored.values()) * 4
    prompt = list(range(5, 40))
    eos = {1}
    assert greedy_reference(loaded.target, prompt, 24, eos) == greedy_reference(reference.target, prompt, 24, eos)
    assert torch.equal(loaded.drafter.masked_embedding.token_ordering,
                       reference.drafter.masked_embedding.token_ordering)


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=server_command("--model", str(TARGET), "--drafter-model", str(DRAFTER)),
    server_env=server_env()))
async def client(lsp_client: LanguageClient):
    await ready_in_workspace(lsp_client, WORKSPACE, URI, CALC, clientRendersExplanations=True, maxNewTokens=24,
                             debug={"maxTokens": 96, "maxToolCalls": 2})
    yield
    await lsp_client.shutdown_session()


async def test_completion_explain_fix_and_debug_on_the_checkpoint_folders(client: LanguageClient):
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="gemma.status"))
    assert status["state"] == "ready" and status["model"] == str(TARGET)
    assert status["drafter"] == str(DRAFTER)
    logs = [m.message for m in client.log_messages]
    assert any("loaded the text model only" in m and "towers stay on disk" in m for m in logs), logs

    completion = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=1, character=16),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    ))
    assert completion is not None
    items = completion.items if isinstance(completion, types.InlineCompletionList) else completion
    for item in items:
        assert item.range is None or item.range.start == types.Position(1, 16)

    result = await gibberish_fix_explain_and_debug(client, URI)
    assert isinstance(result["answer"], str) and result["editMessage"]
    assert result["transcript"].endswith(".md") and _is_file(result["transcript"])
    assert (WORKSPACE / "calc.py").read_text() == CALC  # nothing was changed
