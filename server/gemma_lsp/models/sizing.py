"""How much memory a target + drafter pair needs, computed from their configs (no weights).

The need is: the weights (target text model + drafter, counted by building both on the meta device, so
tied embeddings count once and every architecture detail of the released configs is included), the
KV cache of one request at the context limit, the reused prompt caches' budget, and a fixed allowance
for activations and the runtime. The engine keeps full-length KV on every layer that computes KV (see
engine/speculative.py), sliding-window layers included; KV-shared layers store nothing.

Where the weights fit but the full context does not, the engine can still run with a shorter context:
`max_context_that_fits` says how long, and a pair only counts as fitting when at least MIN_CONTEXT fits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from gemma_lsp.config import DEFAULT_KV_CACHE_BUDGET_MB

GIB = 2**30
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Activations of a prefill chunk, the logits of the kept positions, the CUDA context / Python runtime.
OVERHEAD_BYTES = 1 * GIB
# Below this a code assistant is not useful (a file, its imports and a debug session's history).
MIN_CONTEXT = 8192
# The engine's context limit unless set (engine/local.py): the trained length, at most this.
DEFAULT_CONTEXT = 32768


@dataclass(frozen=True)
class Need:
    """Memory figures for one pair in one dtype. Bytes throughout."""

    dtype: str
    target_params: int
    drafter_params: int
    kv_bytes_per_token: int
    trained_context: int
    kv_cache_budget: int = DEFAULT_KV_CACHE_BUDGET_MB << 20

    @property
    def weights(self) -> int:
        return (self.target_params + self.drafter_params) * DTYPE_BYTES[self.dtype]

    def total(self, context: int) -> int:
        return self.weights + self.kv_bytes_per_token * context + self.kv_cache_budget + OVERHEAD_BYTES

    @property
    def default_context(self) -> int:
        return min(self.trained_context, DEFAULT_CONTEXT)

    def max_context_that_fits(self, available: float) -> int:
        """The longest context (at most the default limit) that fits in `available` bytes; 0 if none."""
        spare = available - self.weights - self.kv_cache_budget - OVERHEAD_BYTES
        if spare <= 0:
            return 0
        return int(min(self.default_context, spare // max(1, self.kv_bytes_per_token)))

    def fits(self, available: float) -> bool:
        return self.max_context_that_fits(available) >= min(MIN_CONTEXT, self.default_context)

    def describe(self) -> str:
        shortest = min(MIN_CONTEXT, self.default_context)
        return (f"{self.total(self.default_context) / GIB:.1f} GiB in {self.dtype} with a "
                f"{self.default_context:,}-token context, {self.total(shortest) / GIB:.1f} GiB with "
                f"{shortest:,} ({self.weights / GIB:.1f} GiB of weights)")


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied weight once


def kv_bytes_per_token(text_config: Any, dtype: str) -> int:
    """Keys + values of one token on every layer that computes KV (KV-shared layers reuse them)."""
    modes = text_config.kv_sharing_modes
    total = 0
    for index in range(text_config.num_hidden_layers):
        if modes[index] == "reuse":
            continue
        layer = text_config.per_layer_config[index]
        total += 2 * layer.num_key_value_heads * layer.head_dim
    return total * DTYPE_BYTES[dtype]


def _text_config(config: Any) -> Any:
    return config.get_text_config() if hasattr(config, "get_text_config") else config


@functools.lru_cache(maxsize=16)
def _meta_counts(target_json: str, drafter_json: str | None) -> tuple[int, int]:
    import json

    import torch
    from transformers import AutoConfig, Gemma4AssistantForCausalLM, Gemma4ForCausalLM

    def config_of(text: str) -> Any:
        data = json.loads(text)
        return AutoConfig.for_model(data.pop("model_type"), **data)

    with torch.device("meta"):
        target = Gemma4ForCausalLM(_text_config(config_of(target_json)))
        drafter = Gemma4AssistantForCausalLM(config_of(drafter_json)) if drafter_json else None
    return count_parameters(target), count_parameters(drafter) if drafter is not None else 0


def _as_json(config: Any) -> str:
    import json

    data = config.to_dict()
    return json.dumps(data, sort_keys=True, default=str)


def estimate(target_config: Any, drafter_config: Any | None, dtype: str,
             kv_cache_budget: int = DEFAULT_KV_CACHE_BUDGET_MB << 20) -> Need:
    """The memory need of a pair from its configs (multimodal or text target config; drafter may be None).

    Only the text model counts: the loader leaves the vision and audio towers on disk (models/loader.py).
    """
    text = _text_config(target_config)
    target_params, drafter_params = _meta_counts(
        _as_json(text), _as_json(drafter_config) if drafter_config is not None else None
    )
    return Need(
        dtype=dtype, target_params=target_params, drafter_params=drafter_params,
        kv_bytes_per_token=kv_bytes_per_token(text, dtype),
        trained_context=int(getattr(text, "max_position_embeddings", DEFAULT_CONTEXT) or DEFAULT_CONTEXT),
        kv_cache_budget=kv_cache_budget,
    )


def preset_need(preset: str, dtype: str, drafter: bool = True, kv_cache_budget: int = DEFAULT_KV_CACHE_BUDGET_MB << 20) -> Need:
    from gemma_lsp.models import shapes

    return estimate(shapes.target_config(preset), shapes.drafter_config(preset) if drafter else None, dtype,
                    kv_cache_budget)


def memory_table(dtypes: tuple[str, ...] = ("bfloat16", "float32")) -> list[str]:
    """The README's table of each preset's memory need, as Markdown rows."""
    from gemma_lsp.models import shapes

    rows = ["| preset | parameters (text + drafter) | dtype | weights | KV per 1K tokens "
            f"| need at {MIN_CONTEXT} tokens | need at {DEFAULT_CONTEXT} tokens |",
            "|---|---|---|---|---|---|---|"]
    for preset in shapes.PRESET_NAMES:
        for dtype in dtypes:
            need = preset_need(preset, dtype)
            rows.append(
                f"| {preset} | {need.target_params / 1e9:.2f}B + {need.drafter_params / 1e6:.1f}M | {dtype} "
                f"| {need.weights / GIB:.1f} GiB | {need.kv_bytes_per_token * 1024 / 2**20:.0f} MiB "
                f"| {need.total(MIN_CONTEXT) / GIB:.1f} GiB | {need.total(DEFAULT_CONTEXT) / GIB:.1f} GiB |"
            )
    return rows
