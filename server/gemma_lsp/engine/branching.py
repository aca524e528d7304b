"""Alternatives to a greedy completion: where to branch off it, and how each branch must stop.

The local engine first decodes the greedy completion exactly as for any request (speculative decoding
keeps it exact). One target forward over that completion (after the prompt's cached KV) then gives the
model's distribution at every generated position. A branch leaves the greedy path once, at position i,
with a token t the model ranked below the greedy one, and goes on greedily from there. Branches are
ranked by the probability of their head, P(g_0..g_{i-1}) * P(t | g_0..g_{i-1}): the most likely
continuations that differ from the greedy one, which favours the first places where the model was
least sure (a low top-1 probability leaves the most mass to the runners-up). Each branch's prompt
shares the greedy request's prompt and the greedy tokens before i, so its prefill reuses their KV from
the prefix cache and runs just the branch token.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import torch

from .base import StopCheck
from .output import shape_whole


@dataclass
class TokenChoices:
    """The model's view of one generated position."""

    chosen: int | None  # the greedy token here (None past the end of what was generated)
    chosen_logprob: float | None
    top: list[tuple[int, float]]  # the most likely tokens and their log-probabilities, best first


@dataclass
class Branch:
    position: int  # index into the greedy generated tokens where the branch leaves them
    token: int  # the token it takes there instead of the greedy one
    logprob: float  # log P(greedy tokens before `position`, then `token`)


def token_choices(logits: torch.Tensor, chosen: Sequence[int | None], top_k: int) -> list[TokenChoices]:
    """`logits` (rows, vocab): row i is the model's prediction for generated position i; `chosen[i]` is
    the token greedy decoding took there (None where it is not known)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    values, indices = logprobs.topk(min(top_k, logprobs.shape[-1]), dim=-1)
    rows: list[TokenChoices] = []
    for i in range(logprobs.shape[0]):
        token = chosen[i] if i < len(chosen) else None
        rows.append(TokenChoices(
            chosen=token,
            chosen_logprob=float(logprobs[i, token]) if token is not None else None,
            top=list(zip(indices[i].tolist(), values[i].tolist(), strict=True)),
        ))
    return rows


def choose_branches(rows: Sequence[TokenChoices], n: int, skip: Collection[int] = ()) -> list[Branch]:
    """The `n` most likely branches off the greedy path described by `rows` (see the module docstring).

    Tokens in `skip` (special tokens, end of turn) are never branched to; a row whose greedy token is
    unknown ends the path (nothing after it can be branched from)."""
    candidates: list[Branch] = []
    head = 0.0  # log-probability of the greedy tokens before the current row
    for position, row in enumerate(rows):
        for token, logprob in row.top:
            if token != row.chosen and token not in skip:
                candidates.append(Branch(position, token, head + logprob))
        if row.chosen_logprob is None:
            break
        head += row.chosen_logprob
    candidates.sort(key=lambda branch: (-branch.logprob, branch.position))
    return candidates[:n]


def stop_after(head: str, stop: Sequence[str], stop_check: StopCheck | None) -> StopCheck:
    """A `stop_check` for a branch's continuation that applies the request's stops to `head` plus the
    continuation through the one output shaper (engine/output.py), as they apply to the whole
    completion (a stop string may start in the head)."""
    def check(continuation: str) -> int | None:
        shaped = shape_whole(head + continuation, stop, stop_check)
        return max(0, len(shaped.text) - len(head)) if shaped.stopped else None

    return check
