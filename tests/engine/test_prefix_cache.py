"""Prefix KV reuse (engine/prefix_cache.py): exact output after edits, LRU within a byte budget.

Fixtures (conftest.py): `pair` the tiny Gemma 4 target + drafter (sliding_window=8, so every reused
prefix here is longer than the window), `reference` plain greedy output.
"""

from __future__ import annotations

import random

import pytest

from gemma_lsp.engine.prefix_cache import PrefixCache
from gemma_lsp.engine.scheduler import DecodeParams, Scheduler, SchedulerConfig
from gemma_lsp.engine.speculative import Decoder, Sequence, cache_bytes

from .engine_helpers import random_prompt


@pytest.fixture
def sched(pair):
    s = Scheduler(pair.target, pair.drafter, pair.tokenizer, SchedulerConfig(prefill_chunk=16))
    yield s
    s.close()


def edit(prompt: list[int], at: int, rng: random.Random) -> list[int]:
    changed = list(prompt)
    changed[at] = (changed[at] + 1 + rng.randrange(400)) % 512
    return changed


def test_reuse_after_edits_near_the_end_is_exact(sched, reference):
    rng = random.Random(1)
    base = random_prompt(rng, 60)
    first = sched.submit(base, DecodeParams(max_new_tokens=20)).wait(60)
    assert first.token_ids == reference(base, 20) and first.stats.reused_prompt_tokens == 0
    for at in (55, 40, 20, 59):
        prompt = edit(base, at, rng)
        result = sched.submit(prompt, DecodeParams(max_new_tokens=20)).wait(60)
        assert result.token_ids == reference(prompt, 20)
        assert result.stats.reused_prompt_tokens == at  # everything before the edit, nothing after


def test_reuse_of_an_identical_prompt_and_of_a_longer_one_is_exact(sched, reference):
    rng = random.Random(2)
    base = random_prompt(rng, 40)
    sched.submit(base, DecodeParams(max_new_tokens=10)).wait(60)
    again = sched.submit(base, DecodeParams(max_new_tokens=10)).wait(60)
    assert again.token_ids == reference(base, 10)
    assert again.stats.reused_prompt_tokens == len(base) - 1  # the last token must run for its logits
    longer = base + random_prompt(rng, 25)[1:]
    result = sched.submit(longer, DecodeParams(max_new_tokens=10)).wait(60)
    assert result.token_ids == reference(longer, 10)
    assert result.stats.reused_prompt_tokens >= len(base)  # prompt and answer of the previous request


def test_lru_stays_within_budget_and_evicts_oldest(pair):
    decoder = Decoder(pair.target)
    rng = random.Random(3)
    prompts, caches = [], []
    for _ in range(4):
        prompt = random_prompt(rng, 40)
        seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
        decoder.prefill(seq, prompt, last=True)
        prompts.append(prompt)
        caches.append(seq.cache)
    per_entry = cache_bytes(caches[0])
    lru = PrefixCache(budget_bytes=per_entry * 2 + 1)
    for prompt, cache in zip(prompts, caches, strict=True):
        lru.store(prompt, cache)
        assert lru.used_bytes <= lru.budget_bytes
    assert len(lru) == 2
    assert lru.lookup(prompts[0])[1] == 0  # evicted
    assert lru.lookup(prompts[3])[1] == 39
    lru.lookup(prompts[2])  # 2 is now the most recent: storing 0 again evicts 3
    lru.store(prompts[0], caches[0])
    assert lru.lookup(prompts[3])[1] == 0 and lru.lookup(prompts[2])[1] == 39


def test_zero_budget_disables_reuse_and_bad_budget_is_an_error(pair, reference):
    with pytest.raises(ValueError):
        PrefixCache(budget_bytes=-1)
    sched = Scheduler(pair.target, pair.drafter, pair.tokenizer, SchedulerConfig(kv_cache_budget_bytes=0))
    try:
        prompt = random_prompt(random.Random(4), 30)
        for _ in range(2):
            result = sched.submit(prompt, DecodeParams(max_new_tokens=8)).wait(60)
            assert result.stats.reused_prompt_tokens == 0
            assert result.token_ids == reference(prompt, 8)
        assert len(sched.prefix_cache) == 0
    finally:
        sched.close()
