"""The released Gemma 4 checkpoints' text configurations, for checks that need no weights.

Each preset's target (the text part of its -it checkpoint) and its -assistant drafter, field for field
as in the released config.json files (shared facts, "Released Gemma 4 configs"). Tests build every pair
on the meta device and check the parameter counts against Google's published sizes; the memory
estimate (models/sizing.py) counts parameters and KV bytes from the same configs, so the figures the
server uses to choose a preset come from the real shapes, not from a hand-written table.
"""

from __future__ import annotations

from typing import Any

VOCAB = 262_144
PRESET_NAMES = ("31b", "26b", "e4b", "e2b")


def layer_types(n: int, pattern: int) -> list[str]:
    """`pattern - 1` sliding layers then one full layer, repeated; the last layer is always full."""
    types = ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(n)]
    types[-1] = "full_attention"
    return types


# preset -> Gemma4TextConfig kwargs of the target. `global_head_dim` and `num_global_key_value_heads` are
# init-only arguments (they become per-layer overrides of the full-attention layers).
TARGETS: dict[str, dict[str, Any]] = {
    "31b": dict(
        hidden_size=5376, intermediate_size=21504, num_hidden_layers=60, layer_types=layer_types(60, 6),
        num_attention_heads=32, num_key_value_heads=16, num_global_key_value_heads=4, attention_k_eq_v=True,
        head_dim=256, global_head_dim=512, sliding_window=1024, max_position_embeddings=262_144,
        hidden_size_per_layer_input=0, final_logit_softcapping=30.0,
    ),
    # Mixture of experts: 128 experts of width 704, 8 active per token, beside a dense shared MLP of 2112.
    "26b": dict(
        hidden_size=2816, intermediate_size=2112, num_hidden_layers=30, layer_types=layer_types(30, 6),
        num_attention_heads=16, num_key_value_heads=8, num_global_key_value_heads=2, attention_k_eq_v=True,
        head_dim=256, global_head_dim=512, sliding_window=1024, max_position_embeddings=262_144,
        hidden_size_per_layer_input=0, final_logit_softcapping=30.0,
        enable_moe_block=True, num_experts=128, top_k_experts=8, moe_intermediate_size=704,
    ),
    # The E models: per-layer embeddings (PLE, 256 wide) and the last layers reusing earlier layers' KV.
    "e4b": dict(
        hidden_size=2560, intermediate_size=10240, num_hidden_layers=42, layer_types=layer_types(42, 6),
        num_attention_heads=8, num_key_value_heads=2, head_dim=256, global_head_dim=512, sliding_window=512,
        max_position_embeddings=131_072, hidden_size_per_layer_input=256, vocab_size_per_layer_input=VOCAB,
        num_kv_shared_layers=18, final_logit_softcapping=30.0,
    ),
    # E2B's KV-shared layers have a double-wide MLP (12,288).
    "e2b": dict(
        hidden_size=1536, intermediate_size=6144, num_hidden_layers=35, layer_types=layer_types(35, 5),
        num_attention_heads=8, num_key_value_heads=1, head_dim=256, global_head_dim=512, sliding_window=512,
        max_position_embeddings=131_072, hidden_size_per_layer_input=256, vocab_size_per_layer_input=VOCAB,
        num_kv_shared_layers=20, use_double_wide_mlp=True, final_logit_softcapping=30.0,
    ),
}

# preset -> the drafter's own widths. The rest (vocab, KV heads, head dims, window, context) must equal
# the target's: the drafter attends to the target's KV (drafter_config copies them).
DRAFTERS: dict[str, dict[str, Any]] = {
    "31b": dict(hidden_size=1024, intermediate_size=8192, num_attention_heads=32),
    "26b": dict(hidden_size=1024, intermediate_size=8192, num_attention_heads=16),
    "e4b": dict(hidden_size=256, intermediate_size=2048, num_attention_heads=4),
    "e2b": dict(hidden_size=256, intermediate_size=2048, num_attention_heads=4),
}
# The E drafters score the vocabulary through 2048 token clusters, 32 of them per step.
ORDERED_EMBEDDINGS: dict[str, dict[str, Any]] = {
    "e4b": dict(use_ordered_embeddings=True, num_centroids=2048, centroid_intermediate_top_k=32),
    "e2b": dict(use_ordered_embeddings=True, num_centroids=2048, centroid_intermediate_top_k=32),
}
DRAFTER_LAYERS = ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]

# Google's published sizes: text parameters of the target, parameters of the drafter.
PUBLISHED_PARAMS: dict[str, tuple[float | None, float | None]] = {
    "31b": (30.70e9, 469.5e6),
    "26b": (25.23e9, 419.7e6),
    "e4b": (None, 78.5e6),
    "e2b": (4.63e9, None),
}


def target_kwargs(preset: str) -> dict[str, Any]:
    return dict(vocab_size=VOCAB, pad_token_id=0, eos_token_id=1, bos_token_id=2, **TARGETS[preset])


def target_config(preset: str) -> Any:
    from transformers import Gemma4TextConfig

    return Gemma4TextConfig(**target_kwargs(preset))


def drafter_text_kwargs(target: dict[str, Any], own: dict[str, Any], layers: list[str]) -> dict[str, Any]:
    """The drafter's text config: its own widths, everything the shared KV fixes copied from the target."""
    text = dict(
        model_type="gemma4_text", vocab_size=target.get("vocab_size", VOCAB),
        num_hidden_layers=len(layers), layer_types=list(layers),
        num_key_value_heads=target["num_key_value_heads"], head_dim=target["head_dim"],
        global_head_dim=target["global_head_dim"], sliding_window=target["sliding_window"],
        max_position_embeddings=target["max_position_embeddings"],
        hidden_size_per_layer_input=0, vocab_size_per_layer_input=0,
        pad_token_id=0, eos_token_id=1, bos_token_id=2, **own,
    )
    if target.get("attention_k_eq_v"):
        text.update(attention_k_eq_v=True, num_global_key_value_heads=target["num_global_key_value_heads"])
    return text


def drafter_config(preset: str) -> Any:
    from transformers import Gemma4AssistantConfig

    target = TARGETS[preset]
    return Gemma4AssistantConfig(
        backbone_hidden_size=target["hidden_size"],
        text_config=drafter_text_kwargs(target, DRAFTERS[preset], DRAFTER_LAYERS),
        architectures=["Gemma4AssistantForCausalLM"],
        **ORDERED_EMBEDDINGS.get(preset, {}),
    )
