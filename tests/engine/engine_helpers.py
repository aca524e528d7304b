"""Helpers shared by the engine tests."""

from __future__ import annotations

import random

import torch
from transformers import GenerationConfig

from gemma_lsp.engine.speculative import Decoder, Sequence

_REFS: dict[tuple[tuple[int, ...], int], list[int]] = {}


def plain_greedy(target, prompt: list[int], n: int) -> list[int]:
    """Reference: transformers' own greedy decoding, no drafter, exactly n new tokens.

    End tokens are not special here (an eos id no token has, and no `min_new_tokens`, which would
    change the logits): greedy simply runs on.
    """
    key = (tuple(prompt), n)
    if key not in _REFS:
        config = GenerationConfig(do_sample=False, max_new_tokens=n, eos_token_id=[-1], pad_token_id=0)
        with torch.inference_mode():
            out = target.generate(torch.tensor([prompt]), generation_config=config)
        _REFS[key] = out[0, len(prompt):].tolist()
    return _REFS[key]


def random_prompt(rng: random.Random, length: int) -> list[int]:
    return [2] + [rng.randrange(16, 512) for _ in range(length - 1)]


class OracleDecoder(Decoder):
    """A decoder whose drafter proposes the known greedy continuation, each token wrong with prob 1-alpha."""

    def __init__(self, target, drafter, continuations: dict[tuple[int, ...], list[int]], alpha: float,
                 seed: int = 0) -> None:
        super().__init__(target, drafter)
        self.continuations = continuations
        self.alpha = alpha
        self.rng = random.Random(seed)
        self.drafted = 0

    def draft_with_confidence(self, seq: Sequence, k: int, stop_below: float = 0.0) -> tuple[list[int], list[float]]:
        drafts = self.draft(seq, k)
        return drafts, [1.0] * len(drafts)

    def draft(self, seq: Sequence, k: int) -> list[int]:
        truth = self.continuations[tuple(seq.tokens[: seq.prompt_len])]
        start = len(seq.generated)
        out = []
        for i in range(k):
            right = truth[start + i] if start + i < len(truth) else 0
            out.append(right if self.rng.random() < self.alpha else (right + 1 + self.rng.randrange(500)) % 512)
        self.drafted += len(out)
        return out
