"""The presets equal the released Gemma 4 configs: every target/drafter pair is built on the meta device,
its parameter counts match Google's published sizes, and the drafter accepts the target's shared KV."""

from __future__ import annotations

import pytest
import torch

from gemma_lsp.models import shapes, sizing

# Published sizes are rounded to the digits given (30.70B, 469.5M, ...): within half a unit of the last
# digit, plus a little for rounding in the publication itself.
TOLERANCE = 0.001


def _build(preset: str):
    from transformers import Gemma4AssistantForCausalLM, Gemma4ForCausalLM

    with torch.device("meta"):
        return (Gemma4ForCausalLM(shapes.target_config(preset)),
                Gemma4AssistantForCausalLM(shapes.drafter_config(preset)))


@pytest.mark.parametrize("preset", shapes.PRESET_NAMES)
def test_parameter_counts_match_the_published_sizes(preset: str):
    target, drafter = _build(preset)
    published_target, published_drafter = shapes.PUBLISHED_PARAMS[preset]
    counted = sizing.count_parameters(target), sizing.count_parameters(drafter)
    for published, count in zip((published_target, published_drafter), counted, strict=True):
        if published is not None:
            assert abs(count - published) / published < TOLERANCE, (preset, count, published)
    # The memory estimate counts the very same parameters.
    need = sizing.preset_need(preset, "bfloat16")
    assert (need.target_params, need.drafter_params) == counted


def test_released_config_details():
    """The fields the issue found wrong or missing, as the released config.json files have them."""
    e2b, e4b, b31, b26 = (shapes.target_config(p) for p in ("e2b", "e4b", "31b", "26b"))
    assert e2b.use_double_wide_mlp and e2b.num_kv_shared_layers == 20 and e2b.num_hidden_layers == 35
    assert e4b.num_kv_shared_layers == 18 and e4b.num_hidden_layers == 42
    assert b31.max_position_embeddings == b26.max_position_embeddings == 262_144
    assert b26.enable_moe_block and (b26.num_experts, b26.top_k_experts, b26.moe_intermediate_size) == (128, 8, 704)
    for cfg in (b31, b26):
        cfg.allow_global_per_layer_attribute_access = True
        full = cfg.layer_types.index("full_attention")
        assert cfg.attention_k_eq_v and cfg.per_layer_config[full].head_dim == 512
    assert b31.per_layer_config[5].num_key_value_heads == 4 and b26.per_layer_config[5].num_key_value_heads == 2
    d31 = shapes.drafter_config("31b")
    assert d31.get_text_config().intermediate_size == 8192
    assert d31.get_text_config().max_position_embeddings == 262_144
    for preset in ("e2b", "e4b"):
        d = shapes.drafter_config(preset)
        assert (d.use_ordered_embeddings, d.num_centroids, d.centroid_intermediate_top_k) == (True, 2048, 32)
    for preset in ("31b", "26b"):
        assert not shapes.drafter_config(preset).use_ordered_embeddings
    for preset in shapes.PRESET_NAMES:
        d = shapes.drafter_config(preset)
        assert d.tie_word_embeddings and d.architectures == ["Gemma4AssistantForCausalLM"]
        assert d.get_text_config().num_kv_shared_layers == d.get_text_config().num_hidden_layers == 4


@pytest.mark.parametrize("preset", shapes.PRESET_NAMES)
def test_real_target_and_drafter_pair_on_meta(preset: str):
    target, drafter = _build(preset)
    target, drafter = target.to(torch.bfloat16), drafter.to(torch.bfloat16)  # as released (MoE kernels need it)
    t_cfg, d_cfg = target.config, drafter.config.get_text_config()
    assert d_cfg.vocab_size == t_cfg.vocab_size == shapes.VOCAB
    assert drafter.config.backbone_hidden_size == t_cfg.hidden_size
    for cfg in (t_cfg, d_cfg):  # both carry per-layer overrides for their full-attention layers
        cfg.allow_global_per_layer_attribute_access = True
    for kind in ("sliding_attention", "full_attention"):  # the drafter's KV heads/dims are the target's
        t_layer = t_cfg.per_layer_config[t_cfg.layer_types.index(kind)]
        d_layer = d_cfg.per_layer_config[d_cfg.layer_types.index(kind)]
        assert (d_layer.num_key_value_heads, d_layer.head_dim) == (t_layer.num_key_value_heads, t_layer.head_dim)

    # One target forward on meta tensors gives the shared KV the drafter reads; one drafter step must
    # accept it (shape errors would raise here).
    ids = torch.zeros((1, 12), dtype=torch.long, device="meta")
    out = target(input_ids=ids, output_hidden_states=True, return_shared_kv_states=True, use_cache=True)
    assert out.logits.shape == (1, 12, shapes.VOCAB)
    kv = out.shared_kv_states
    assert set(kv) == {"sliding_attention", "full_attention"}
    embeds = torch.cat([target.get_input_embeddings()(ids[:, -1:]), out.hidden_states[-1][:, -1:]], dim=-1)
    # The ordered-embedding head picks its clusters with a data-dependent top-k that meta tensors cannot
    # run; its shapes are checked apart, the rest of the step runs through the plain head.
    drafter.config.use_ordered_embeddings = False
    step = drafter(inputs_embeds=embeds, position_ids=torch.tensor([[11]], device="meta"),
                   attention_mask=None, shared_kv_states=kv, use_cache=False)
    assert step.logits.shape == (1, 1, shapes.VOCAB)
    assert step.last_hidden_state.shape == (1, 1, t_cfg.hidden_size)
    if drafter.masked_embedding is not None:
        masked = drafter.masked_embedding
        assert masked.centroids.weight.shape == (2048, d_cfg.hidden_size)
        assert masked.token_ordering.shape == (shapes.VOCAB,) and shapes.VOCAB % masked.num_centroids == 0
