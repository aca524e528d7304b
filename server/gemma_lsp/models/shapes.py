"""The shapes of the real Gemma 4 checkpoints the presets name, for checks that need no weights.

Values from the released configs (see shared facts): used to build the target and drafter on the meta
device and prove that each preset's pair fits together, without downloading anything.
"""

from __future__ import annotations

from typing import Any

VOCAB = 262_144

# preset -> target text config kwargs (global_head_dim / num_global_key_value_heads are init-only)
TARGETS: dict[str, dict[str, Any]] = {
    "31b": dict(hidden_size=5376, intermediate_size=21504, num_hidden_layers=60, num_attention_heads=32,
                num_key_value_heads=16, head_dim=256, global_head_dim=512, num_global_key_value_heads=4,
                attention_k_eq_v=True, sliding_window=1024, hidden_size_per_layer_input=0,
                vocab_size_per_layer_input=VOCAB, layer_pattern=6, final_logit_softcapping=30.0),
    "e2b": dict(hidden_size=1536, intermediate_size=6144, num_hidden_layers=35, num_attention_heads=8,
                num_key_value_heads=1, head_dim=256, global_head_dim=512, sliding_window=512,
                hidden_size_per_layer_input=256, vocab_size_per_layer_input=VOCAB, num_kv_shared_layers=20,
                layer_pattern=5, final_logit_softcapping=30.0),
}
# preset -> drafter text config kwargs (4-layer MTP head). The targets above are the released shapes; the
# drafters' own widths are not in our notes, so these are chosen to meet the pairing rules the drafter
# imposes (same vocab, KV heads and head dims as the target; query heads a multiple of KV heads).
DRAFTERS: dict[str, dict[str, Any]] = {
    "31b": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=4, num_attention_heads=32),
    "e2b": dict(hidden_size=256, intermediate_size=2048, num_hidden_layers=4, num_attention_heads=4),
}


def _layer_types(n: int, pattern: int) -> list[str]:
    return ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(n - 1)] + [
        "full_attention"
    ]


def target_config(preset: str) -> Any:
    from transformers import Gemma4TextConfig

    kwargs = dict(TARGETS[preset])
    pattern = kwargs.pop("layer_pattern")
    return Gemma4TextConfig(vocab_size=VOCAB, layer_types=_layer_types(kwargs["num_hidden_layers"], pattern),
                            **kwargs)


def drafter_config(preset: str) -> Any:
    from transformers import Gemma4AssistantConfig

    target = TARGETS[preset]
    text = dict(
        model_type="gemma4_text", vocab_size=VOCAB,
        num_key_value_heads=target["num_key_value_heads"], head_dim=target["head_dim"],
        global_head_dim=target["global_head_dim"], sliding_window=target["sliding_window"],
        hidden_size_per_layer_input=0, vocab_size_per_layer_input=0,
        layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
        **DRAFTERS[preset],
    )
    if "num_global_key_value_heads" in target:
        text.update(num_global_key_value_heads=target["num_global_key_value_heads"],
                    attention_k_eq_v=target["attention_k_eq_v"])
    return Gemma4AssistantConfig(backbone_hidden_size=target["hidden_size"], text_config=text)
