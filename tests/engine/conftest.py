"""Fixtures for the engine tests: the tiny Gemma 4 pair, plain-greedy references and an oracle drafter.

`pair` is the seeded tiny target + drafter + tokenizer (gemma_lsp.models.tiny). `reference(prompt, n)`
is `target.generate(do_sample=False)` without a drafter: the ground truth every exactness test compares
against. More helpers (the oracle drafter) live in engine_helpers.py.
"""

from __future__ import annotations

import pytest
import torch

from gemma_lsp.engine.local import LocalEngine
from gemma_lsp.models import presets, tiny

from .engine_helpers import plain_greedy

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pair() -> tiny.TinyPair:
    return tiny.build()


@pytest.fixture(scope="session")
def reference(pair):
    return lambda prompt, n: plain_greedy(pair.target, prompt, n)


@pytest.fixture
async def engine():
    """A started LocalEngine on the tiny preset (CPU, a small KV-cache budget); closed after the test."""
    eng = LocalEngine(presets.resolve("tiny"), device="cpu", kv_cache_budget_mb=16)
    await eng.start()
    yield eng
    await eng.close()
