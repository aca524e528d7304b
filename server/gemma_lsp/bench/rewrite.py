"""The engine benchmark's rewrite row: a next edit copies a window of its prompt with one change.

A random target's greedy output copies nothing, so the output is set the way the alpha rows set the
drafter's (`AlphaControl`): the real target forward runs, so every step costs what a step costs, and its
logits are then swapped so that greedy decoding yields the intended text (`CopyingDecoder`): here a
window of the prompt with one token changed in its middle. Requests go through the scheduler, the
server's path, with no drafter; rows: plain steps (no lookup), prompt lookup as other purposes get it
(at most 8 tokens a step) and as next edits get it (long drafts, engine/drafting.py `lookup_limit`).
The measure is target steps per generated token (1.0 without lookup); the wall-time speedup is shown
too, in lockstep-free alternation, so it moves with the machine's load.
"""

from __future__ import annotations

import random
import time
from typing import Any

import torch

from gemma_lsp.engine.scheduler import DecodeParams, Scheduler, SchedulerConfig
from gemma_lsp.engine.speculative import Decoder, Sequence

EOS = 1


class CopyingDecoder(Decoder):
    """A decoder whose target greedily produces `truth` (prompt + intended output): each forward runs,
    then in each kept row the argmax is swapped with the intended token."""

    def __init__(self, target: Any, drafter: Any | None = None) -> None:
        super().__init__(target, drafter)
        self.truth: list[int] = []

    def _forward(self, seq: Sequence, ids: list[int], keep: int) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden = super()._forward(seq, ids, keep)
        logits = logits.clone()
        for j in range(keep):
            # Row j predicts the token at position len(seq.tokens) + j (prefill and verify alike).
            at = len(seq.tokens) + j
            want = self.truth[at] if at < len(self.truth) else EOS
            row = logits[0, j]
            top = int(row.argmax())
            row[[top, want]] = row[[want, top]]
        return logits, hidden


def rewrite_case(rng: random.Random, vocab: int, window: int, around: int) -> tuple[list[int], list[int]]:
    """A prompt holding a window of `window` tokens between `around` random tokens each side, and the
    output: that window with its middle token changed."""
    def tokens(n: int) -> list[int]:
        return [rng.randrange(3, vocab) for _ in range(n)]

    copied = tokens(window)
    prompt = tokens(around) + copied + tokens(around)
    output = list(copied)
    middle = window // 2
    output[middle] = 3 + (output[middle] - 2) % (vocab - 3)  # another ordinary token
    return prompt, output


def bench_rewrite(target: Any, vocab: int, quick: bool) -> dict[str, Any]:
    """Target steps per generated token of a rewrite, without lookup, with short and with long lookup."""
    rng = random.Random(17)
    window = 64 if quick else 160
    repeats = 1 if quick else 3
    decoder = CopyingDecoder(target, None)
    sched = Scheduler(target, None, _NoText(), SchedulerConfig(use_drafter=False, kv_cache_budget_bytes=0),
                      decoder=decoder)
    variants = {"plain": ("next_edit", False), "lookup_short": ("completion", True),
                "lookup_long": ("next_edit", True)}
    totals = {name: dict(steps=0, tokens=0, seconds=0.0, drafted=0, accepted=0) for name in variants}
    try:
        for r in range(repeats + 1):  # the first round teaches the cost model this kind of request
            prompt, output = rewrite_case(rng, vocab, window, around=48)
            decoder.truth = prompt + output
            for name, (purpose, lookup) in variants.items():
                start = time.perf_counter()
                result = sched.submit(prompt, DecodeParams(max_new_tokens=len(output), eos_token_ids=(EOS,),
                                                           prompt_lookup=lookup, purpose=purpose)).wait()
                seconds = time.perf_counter() - start
                if result.token_ids != output:
                    raise AssertionError(f"the rewrite ({name}) differs from the intended output")
                if r == 0:
                    continue
                row = totals[name]
                row["steps"] += result.stats.target_steps + 1  # the prefill gives the first token
                row["tokens"] += len(result.token_ids)
                row["seconds"] += seconds
                row["drafted"] += result.stats.drafted_tokens
                row["accepted"] += result.stats.accepted_tokens
        costs = sched.drafting.costs.measured()
    finally:
        sched.close()
    rows = []
    for name, row in totals.items():
        rows.append(dict(variant=name, lookup_max={"plain": 0, "lookup_short": 8, "lookup_long": 32}[name],
                         steps_per_token=round(row["steps"] / row["tokens"], 3),
                         accepted_per_step=round(row["accepted"] / max(1, row["steps"]), 2),
                         speedup=round(totals["plain"]["seconds"] / row["seconds"], 2) if row["seconds"] else 0.0))
    return dict(rows=rows, window_tokens=window, repeats=repeats, costs=costs,
                steps_per_token_long=rows[2]["steps_per_token"], steps_per_token_plain=rows[0]["steps_per_token"])


class _NoText:
    """The scheduler detokenizes as it streams; the bench reads token ids only."""

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "x" * len(ids)


def print_rewrite(result: dict[str, Any]) -> None:
    print(f"\nrewrite (a next edit): the output copies a {result['window_tokens']}-token window of the prompt with "
          "one change; scheduler, no drafter")
    print(f"{'variant':>13} {'lookup k':>9} {'steps/token':>12} {'acc/step':>9} {'speedup':>8}")
    for r in result["rows"]:
        print(f"{r['variant']:>13} {r['lookup_max']:>9} {r['steps_per_token']:>12.3f} {r['accepted_per_step']:>9.2f} "
              f"{r['speedup']:>8.2f}")
