"""The presets' real 31B and E2B target/drafter configurations pair up (built on the meta device)."""

from __future__ import annotations

import pytest
import torch

from gemma_lsp.models import shapes


@pytest.mark.parametrize("preset", ["31b", "e2b"])
def test_real_target_and_drafter_pair_on_meta(preset: str):
    from transformers import Gemma4AssistantForCausalLM, Gemma4ForCausalLM

    with torch.device("meta"):
        target = Gemma4ForCausalLM(shapes.target_config(preset))
        drafter = Gemma4AssistantForCausalLM(shapes.drafter_config(preset))
    t_cfg, d_cfg = target.config, drafter.config.get_text_config()
    assert d_cfg.vocab_size == t_cfg.vocab_size == shapes.VOCAB
    assert drafter.config.backbone_hidden_size == t_cfg.hidden_size
    for cfg in (t_cfg, d_cfg):  # both carry per-layer overrides for their full-attention layers
        cfg.allow_global_per_layer_attribute_access = True
    assert d_cfg.num_key_value_heads == t_cfg.num_key_value_heads
    assert d_cfg.head_dim == t_cfg.head_dim

    # One target forward on meta tensors gives the shared KV the drafter reads; one drafter step must
    # accept it (shape errors would raise here).
    ids = torch.zeros((1, 12), dtype=torch.long, device="meta")
    out = target(input_ids=ids, output_hidden_states=True, return_shared_kv_states=True, use_cache=True)
    assert out.logits.shape == (1, 12, shapes.VOCAB)
    kv = out.shared_kv_states
    assert set(kv) == {"sliding_attention", "full_attention"}
    embeds = torch.cat([target.get_input_embeddings()(ids[:, -1:]), out.hidden_states[-1][:, -1:]], dim=-1)
    step = drafter(inputs_embeds=embeds, position_ids=torch.tensor([[11]], device="meta"),
                   attention_mask=None,
                   shared_kv_states=kv, use_cache=False)
    assert step.logits.shape == (1, 1, shapes.VOCAB)
    assert step.last_hidden_state.shape == (1, 1, t_cfg.hidden_size)
    params = sum(p.numel() for p in target.parameters())
    assert params > (25e9 if preset == "31b" else 1e9)
