"""The tiny pair: exact speculative decoding, the saved-folder path, and clear errors for missing weights."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from gemma_lsp.engine.base import GenerationRequest, ModelUnavailable
from gemma_lsp.engine.local import LocalEngine
from gemma_lsp.models import loader, presets, tiny

PROMPTS = [
    "def add(a, b):",
    "import os\nimport sys\n",
    "class Parser:\n    def __init__(self, text):\n        self.",
    "for (int i = 0; i < n; i++) {",
    "fn main() {\n    let v = Vec::new();",
    "The test failed because",
    "x = [1, 2, 3]\nprint(",
    "",
]


@pytest.fixture(scope="module")
def pair() -> tiny.TinyPair:
    return tiny.build()


def test_tiny_builds_deterministically(pair: tiny.TinyPair):
    again = tiny.build()
    for a, b in zip(pair.target.state_dict().values(), again.target.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert pair.tokenizer.convert_tokens_to_ids("<turn|>") != pair.tokenizer.unk_token_id
    assert [pair.tokenizer.pad_token_id, pair.tokenizer.eos_token_id, pair.tokenizer.bos_token_id] == [0, 1, 2]


def test_tiny_is_in_the_released_shape_family(pair: tiny.TinyPair):
    """A multimodal target with a vision tower and E2B's text features; an E2B-style drafter."""
    assert type(pair.target).__name__ == "Gemma4ForConditionalGeneration"
    assert pair.target.model.vision_tower is not None and pair.target.model.audio_tower is None
    text = pair.target.config.get_text_config()
    assert text.num_kv_shared_layers and text.use_double_wide_mlp and text.hidden_size_per_layer_input
    layers = pair.target.model.language_model.layers
    assert layers[-1].mlp.intermediate_size == 2 * layers[0].mlp.intermediate_size  # double-wide on shared layers
    assert pair.drafter.config.use_ordered_embeddings
    ordering = pair.drafter.masked_embedding.token_ordering
    assert sorted(ordering.tolist()) == list(range(tiny.TINY_VOCAB_SIZE))  # every token in one cluster


def test_chat_template_renders_gemma4_turns_tools_and_thinking(pair: tiny.TinyPair):
    tools = [{"type": "function", "function": {"name": "read_file", "description": "Read a file",
              "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]
    messages = [{"role": "user", "content": "hi"}]
    text = pair.tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True,
                                              enable_thinking=True)
    assert text == (
        '<bos><|turn>system\n<|think|>\n<|tool>declaration:read_file{description:<|"|>Read a file<|"|>,'
        'parameters:{properties:{path:{type:<|"|>STRING<|"|>}},required:[<|"|>path<|"|>],type:<|"|>OBJECT<|"|>}}'
        "<tool|><turn|>\n<|turn>user\nhi<turn|>\n<|turn>model\n"
    )
    plain = pair.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert plain == "<bos><|turn>user\nhi<turn|>\n<|turn>model\n"


@pytest.mark.parametrize("max_new_tokens", [1, 7, 40])
def test_drafter_output_is_token_identical_to_plain_greedy(pair: tiny.TinyPair, max_new_tokens: int):
    """Past the sliding window (8 tokens) too: every prompt here is longer than the window."""
    for num_assistant_tokens in (2, 4, 8):
        pair.drafter.generation_config.num_assistant_tokens = num_assistant_tokens
        for prompt in PROMPTS:
            text = pair.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                      add_generation_prompt=True)
            ids = pair.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            assert ids.shape[1] > 8
            kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, attention_mask=torch.ones_like(ids))
            plain = pair.target.generate(ids, **kwargs)
            drafted = pair.target.generate(ids, assistant_model=pair.drafter, **kwargs)
            assert torch.equal(plain, drafted), (prompt, num_assistant_tokens)


async def _generate(engine: LocalEngine, prompt: str, n: int) -> str:
    result = await engine.generate(GenerationRequest([{"role": "user", "content": prompt}], max_new_tokens=n))
    return result.text


def test_saved_folder_loads_through_from_pretrained_and_matches(tmp_path: Path):
    target_dir, drafter_dir = tiny.save(tmp_path)
    assert (target_dir / "config.json").is_file() and (drafter_dir / "config.json").is_file()

    async def run() -> tuple[list[str], list[str]]:
        in_memory = LocalEngine(presets.resolve("tiny"))
        from_disk = LocalEngine(presets.resolve(str(target_dir), str(drafter_dir)), draft_tokens=3)
        await in_memory.start()
        await from_disk.start()
        assert from_disk.info.drafter == str(drafter_dir)
        a = [await _generate(in_memory, p, 20) for p in PROMPTS[:4]]
        b = [await _generate(from_disk, p, 20) for p in PROMPTS[:4]]
        await in_memory.close()
        await from_disk.close()
        return a, b

    a, b = asyncio.run(run())
    assert a == b
    assert any(a)


def test_missing_and_partial_folders_say_what_to_do(tmp_path: Path):
    with pytest.raises(ModelUnavailable) as missing:
        loader.load(presets.resolve(str(tmp_path / "nope")))
    assert "not found" in str(missing.value) and missing.value.fix
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text('{"model_type": "gemma4_text"}')
    with pytest.raises(ModelUnavailable) as partial:
        loader.load(presets.resolve(str(tmp_path / "partial")))
    assert "complete Gemma 4 checkpoint" in partial.value.fix


def test_preset_without_cached_weights_names_the_download_command(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailable) as error:
        loader.load(presets.resolve("e2b"), allow_download=False)
    assert "hf download google/gemma-4-E2B-it google/gemma-4-E2B-it-assistant" in error.value.fix


def test_auto_preset_follows_the_hardware():
    assert presets.choose_preset(presets.Hardware("cpu"))[0] == "e2b"
    assert presets.choose_preset(presets.Hardware("cuda", "H200", 139.0, 1))[0] == "31b"
    assert presets.choose_preset(presets.Hardware("cuda", "RTX 4090", 24.0, 1))[0] == "e4b"
    assert presets.choose_preset(presets.Hardware("cuda", "T4", 15.0, 1))[0] == "e2b"
