"""The decode loop (engine/speculative.py) against plain greedy `generate`, past the sliding window.

Fixtures (conftest.py): `pair` the tiny Gemma 4 target + drafter, `reference` plain greedy output.
The tiny target has sliding_window=8, so nearly every position here is past the window.
"""

from __future__ import annotations

import random

import pytest
import torch

from gemma_lsp.engine.speculative import Decoder, Sequence, cache_bytes, fork_cache, greedy_reference

from .engine_helpers import OracleDecoder, plain_greedy, random_prompt


def run(decoder: Decoder, prompt: list[int], n: int, k: int, chunk: int | None = None) -> tuple[list[int], int, int]:
    seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
    chunk = chunk or len(prompt)
    for start in range(0, len(prompt), chunk):
        decoder.prefill(seq, prompt[start : start + chunk], last=start + chunk >= len(prompt))
    drafted = accepted = 0
    while len(seq.generated) < n:
        step = decoder.step(seq, decoder.draft(seq, min(k, n - len(seq.generated) - 1)))
        drafted, accepted = drafted + step.drafted, accepted + step.accepted
        # The invariant of the cache discipline: KV for every verified token but the newest.
        assert seq.cache.get_seq_length() == len(seq.tokens) - 1
    return seq.generated[:n], drafted, accepted


@pytest.mark.parametrize("k", [1, 3, 6])
def test_real_drafter_is_exact_over_many_prompts(pair, reference, k):
    decoder = Decoder(pair.target, pair.drafter)
    rng = random.Random(k)
    for _ in range(6):
        prompt = random_prompt(rng, rng.randrange(3, 40))
        n = rng.randrange(5, 40)
        out, drafted, _ = run(decoder, prompt, n, k)
        assert out == reference(prompt, n)
        assert drafted > 0


@pytest.mark.parametrize("alpha", [0.3, 0.7, 0.95, 1.0])
def test_accepting_and_rejecting_drafts_is_exact(pair, reference, alpha):
    rng = random.Random(int(alpha * 100))
    prompts = [random_prompt(rng, rng.randrange(4, 30)) for _ in range(4)]
    truths = {tuple(p): reference(p, 60) for p in prompts}
    decoder = OracleDecoder(pair.target, pair.drafter, truths, alpha, seed=1)
    total_accepted = 0
    for prompt in prompts:
        out, drafted, accepted = run(decoder, prompt, 48, k=5)
        assert out == truths[tuple(prompt)][:48]
        total_accepted += accepted
    assert total_accepted > 0  # the oracle is right often enough for the accept path to run
    if alpha == 1.0:
        assert total_accepted == decoder.drafted  # every correct draft is kept


def test_chunked_prefill_is_exact(pair, reference):
    prompt = random_prompt(random.Random(7), 45)
    out, _, _ = run(Decoder(pair.target, pair.drafter), prompt, 20, k=4, chunk=7)
    assert out == reference(prompt, 20)


def test_plain_steps_without_drafter_match_generate(pair, reference):
    prompt = random_prompt(random.Random(3), 25)
    assert greedy_reference(pair.target, prompt, 30) == reference(prompt, 30)


def test_drafter_reads_only_verified_positions(pair):
    """After a rejection the shared KV handed to the drafter stops at the cache, windowed for sliding layers."""
    decoder = Decoder(pair.target, pair.drafter)
    prompt = random_prompt(random.Random(5), 30)
    seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
    decoder.prefill(seq, prompt, last=True)
    step = decoder.step(seq, [0, 0, 0, 0])  # token 0 (pad) is never the greedy choice here
    assert step.accepted == 0
    kv = decoder.drafter_kv(seq)
    assert kv["full_attention"][0].shape[-2] == len(seq.tokens) - 1
    assert kv["sliding_attention"][0].shape[-2] == pair.target.config.get_text_config().sliding_window
    assert seq.shared_kv["full_attention"][0].shape[-2] == len(seq.tokens) - 1 + 4  # rejected drafts' KV


def test_fork_shares_tensors_and_stays_independent(pair):
    decoder = Decoder(pair.target, pair.drafter)
    prompt = random_prompt(random.Random(9), 20)
    seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
    decoder.prefill(seq, prompt, last=True)
    fork = fork_cache(seq.cache, 12)
    before = [layer.keys.clone() for layer in fork.layers]
    assert cache_bytes(fork) * 20 == cache_bytes(seq.cache) * 12
    for _ in range(3):
        decoder.step(seq, [1, 2])  # grows and crops the original
    assert all(torch.equal(a, layer.keys) for a, layer in zip(before, fork.layers, strict=True))
    assert fork.get_seq_length() == 12


def test_bfloat16_runs_and_matches_plain_greedy_in_bfloat16(pair):
    """CPU bf16: the engine's path (speculative, with drafts) equals its own plain-greedy path."""
    import copy

    target = copy.deepcopy(pair.target).to(torch.bfloat16)
    drafter = copy.deepcopy(pair.drafter).to(torch.bfloat16)
    prompt = random_prompt(random.Random(11), 20)
    truth = greedy_reference(target, prompt, 40)
    decoder = OracleDecoder(target, drafter, {tuple(prompt): truth + [0] * 8}, alpha=0.8)
    out, _, accepted = run(decoder, prompt, 32, k=4)
    assert out == truth[:32]
    assert accepted > 0


def test_text_only_target_class_is_exact(pair):
    """The loader builds Gemma4ForCausalLM from a multimodal checkpoint's text model (and the tiny target
    is multimodal): the decoder drives both classes."""
    from transformers import Gemma4ForCausalLM

    from gemma_lsp.models import tiny

    assert type(pair.target).__name__ == "Gemma4ForConditionalGeneration"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        target = Gemma4ForCausalLM(tiny.text_config()).eval()
    prompt = random_prompt(random.Random(12), 30)
    out, drafted, _ = run(Decoder(target, pair.drafter), prompt, 24, k=3)
    assert drafted > 0
    assert out == plain_greedy(target, prompt, 24)


def test_kv_sharing_target_like_e2b_is_exact(pair):
    """E2B/E4B share KV across their last layers (those layers never enter the cache): still exact,
    with prefill in two chunks and the drafter reading the shared KV."""
    from transformers import Gemma4ForCausalLM, Gemma4TextConfig

    config = Gemma4TextConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, global_head_dim=16, sliding_window=8, hidden_size_per_layer_input=8,
        vocab_size_per_layer_input=512, num_kv_shared_layers=3,
        layer_types=(["sliding_attention"] * 2 + ["full_attention"]) * 2,
        pad_token_id=0, eos_token_id=1, bos_token_id=2, max_position_embeddings=1024)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        target = Gemma4ForCausalLM(config).eval()
    decoder = Decoder(target, pair.drafter)
    rng = random.Random(13)
    for _ in range(3):
        prompt = random_prompt(rng, rng.randrange(12, 40))
        out, drafted, _ = run(decoder, prompt, 24, k=3, chunk=len(prompt) // 2 + 1)
        assert drafted > 0
        assert out == plain_greedy(target, prompt, 24)
