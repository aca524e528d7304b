"""Memory-aware model choice: the need of each preset per dtype, computed from the released configs, is
checked against (faked) GPU memory or available RAM; a CPU falls back to bf16; nothing fitting is one
clear error that says what would fit."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gemma_lsp.engine.base import ModelUnavailable
from gemma_lsp.models import loader, presets, shapes, sizing, tiny
from gemma_lsp.models.presets import Hardware

GIB = 2**30
README = Path(__file__).resolve().parents[2] / "README.md"


def cpu(ram_gib: float) -> Hardware:
    return Hardware("cpu", ram_available_gib=ram_gib)


def gpu(name: str, gib: float) -> Hardware:
    return Hardware("cuda", name, gib, 1, ram_available_gib=64.0)


def test_kv_bytes_count_only_the_layers_that_compute_kv():
    # E2B: 35 layers, the last 20 reuse KV; of the first 15, every 5th is full attention (1 KV head of 512)
    # and the others sliding (1 KV head of 256). Keys and values, 2 bytes each in bf16.
    assert sizing.kv_bytes_per_token(shapes.target_config("e2b"), "bfloat16") == (12 * 256 + 3 * 512) * 2 * 2
    # 31B: 50 sliding layers with 16 KV heads of 256, 10 full layers with 4 global KV heads of 512.
    assert sizing.kv_bytes_per_token(shapes.target_config("31b"), "float32") == (50 * 16 * 256 + 10 * 4 * 512) * 2 * 4


def test_need_is_weights_plus_kv_plus_budget_and_doubles_its_weights_in_fp32():
    bf16, fp32 = sizing.preset_need("e2b", "bfloat16"), sizing.preset_need("e2b", "float32")
    assert fp32.weights == 2 * bf16.weights
    assert bf16.weights == (bf16.target_params + bf16.drafter_params) * 2
    assert bf16.total(8192) == bf16.weights + 8192 * bf16.kv_bytes_per_token + bf16.kv_cache_budget + sizing.OVERHEAD_BYTES
    # The published "E2B pair is about 10 GB in bf16, 19-20 GiB in fp32".
    assert 8.5 * GIB < bf16.weights < 10 * GIB and 19 * GIB < fp32.total(8192) < 21 * GIB


def test_readme_model_table_is_the_computed_one():
    text = README.read_text()
    for row in sizing.memory_table():
        assert row in text, row


@pytest.mark.parametrize(("hardware", "preset"), [
    (gpu("H200", 139.0), "31b"),
    (gpu("H100", 79.6), "31b"),  # fits with a shorter context than the default
    (gpu("A100 40GB", 40.0), "e4b"),
    (gpu("RTX 4090", 24.0), "e4b"),
    (gpu("T4", 15.0), "e2b"),
    (cpu(64.0), "e2b"),
])
def test_auto_picks_the_largest_preset_whose_need_fits(hardware: Hardware, preset: str):
    assert presets.choose_preset(hardware)[0] == preset
    assert presets.resolve("auto", hardware=hardware).preset == preset


def test_auto_with_the_cpu_device_chooses_for_the_cpu_beside_a_gpu():
    assert presets.resolve("auto", hardware=gpu("H200", 139.0), device="cpu").preset == "e2b"
    assert presets.resolve("auto", hardware=gpu("H200", 139.0), device="auto").preset == "31b"


def test_a_cpu_loads_fp32_when_it_fits_and_bf16_when_only_that_fits():
    target, drafter = shapes.target_config("e2b"), shapes.drafter_config("e2b")
    roomy = loader.plan_memory("e2b", target, drafter, "cpu", "auto", 1024, cpu(32.0))
    assert roomy.dtype == "float32" and roomy.context_limit_tokens == sizing.DEFAULT_CONTEXT
    tight = loader.plan_memory("e2b", target, drafter, "cpu", "auto", 1024, cpu(16.0))
    assert tight.dtype == "bfloat16" and tight.note.startswith("float32 does not fit, loading bfloat16")
    assert loader.plan_memory("e2b", target, drafter, "cuda", "auto", 1024, gpu("T4", 15.0)).dtype == "bfloat16"


def test_a_context_that_does_not_fit_is_shortened_not_refused():
    plan = loader.plan_memory("31b", shapes.target_config("31b"), shapes.drafter_config("31b"), "cuda", "auto",
                              1024, gpu("H100", 79.6))
    assert plan.dtype == "bfloat16"
    assert sizing.MIN_CONTEXT <= plan.context_limit_tokens < sizing.DEFAULT_CONTEXT
    assert f"context limited to {plan.context_limit_tokens} tokens" in plan.note


def test_nothing_fits_is_one_message_that_says_what_would():
    target, drafter = shapes.target_config("e2b"), shapes.drafter_config("e2b")
    with pytest.raises(ModelUnavailable) as small:
        loader.plan_memory("e2b", target, drafter, "cpu", "auto", 1024, cpu(6.0))
    message = str(small.value) + " " + small.value.fix
    assert "Not enough memory for e2b on cpu" in message and "6.0 GiB of RAM available" in message
    assert re.search(r"needs \d+\.\d GiB in float32 .*; \d+\.\d GiB in bfloat16", message), message
    assert "No preset fits here: the smallest, e2b in bfloat16, needs" in small.value.fix
    # A dtype the user set is kept, and the message names the one that would fit.
    with pytest.raises(ModelUnavailable) as fp32:
        loader.plan_memory("e2b", target, drafter, "cpu", "float32", 1024, cpu(16.0))
    assert "e2b in bfloat16 fits here: set gemma.model to e2b and gemma.dtype to bfloat16" in fp32.value.fix
    with pytest.raises(ModelUnavailable) as big:
        loader.plan_memory("31b", shapes.target_config("31b"), shapes.drafter_config("31b"), "cuda", "auto", 1024,
                           gpu("A100 40GB", 40.0))
    assert "e4b in bfloat16 fits here" in big.value.fix


def test_a_preset_that_does_not_fit_is_refused_before_any_download(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(presets, "detect_hardware", lambda: cpu(4.0))
    with pytest.raises(ModelUnavailable) as error:
        loader.load(presets.resolve("e4b"), device="cpu", allow_download=True)
    assert "Not enough memory for e4b" in str(error.value)
    assert not any(tmp_path.iterdir())  # nothing was fetched


def test_a_local_folder_is_measured_from_its_own_configs_and_limits_the_engine_context(tmp_path: Path, monkeypatch):
    from gemma_lsp.engine.local import LocalEngine

    target_dir, drafter_dir = tiny.save(tmp_path)
    pair = tiny.build()
    need = sizing.estimate(pair.target.config, pair.drafter.config, "float32", kv_cache_budget=0)
    assert need.target_params == sum(p.numel() for p in pair.target.model.language_model.parameters())
    monkeypatch.setattr(presets, "detect_hardware", lambda: cpu(0.001))
    with pytest.raises(ModelUnavailable, match="Not enough memory for"):
        loader.load(presets.resolve(str(target_dir), str(drafter_dir)), device="cpu")
    # Room for the weights and 3000 tokens of KV: the engine's context limit follows.
    room = (need.weights + sizing.OVERHEAD_BYTES + 3000 * need.kv_bytes_per_token) / GIB
    monkeypatch.setattr(presets, "detect_hardware", lambda: cpu(room))
    monkeypatch.setattr(sizing, "MIN_CONTEXT", 2048)
    engine = LocalEngine(presets.resolve(str(target_dir), str(drafter_dir)), device="cpu", kv_cache_budget_mb=0)

    async def start() -> int:
        await engine.start()
        limit = engine._scheduler.config.context_limit_tokens
        await engine.close()
        return limit

    assert 2990 <= asyncio.run(start()) <= 3000
