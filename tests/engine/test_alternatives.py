"""Alternatives from the local engine (engine/local.py, engine/branching.py) on the tiny model.

Item 0 must be the exact greedy completion; every other item must be: the greedy tokens up to its
branch position, a token the target ranked below the greedy one there, then the target's plain greedy
continuation, all checked against transformers' own greedy decoding and an independent forward.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from gemma_lsp.engine.base import Cancelled, GenerationRequest, Priority
from gemma_lsp.engine.branching import TokenChoices, choose_branches, stop_after
from gemma_lsp.engine.local import LocalEngine

from .engine_helpers import plain_greedy


def _cut_at_stop(eng: LocalEngine, tokens: list[int]) -> list[int]:
    return tokens[: next((i for i, t in enumerate(tokens) if t in eng._stop_ids), len(tokens))]


def _reference_branch(eng: LocalEngine, prompt: list[int], greedy: list[int], position: int, token: int,
                      max_new: int) -> str:
    """Plain greedy (no drafter, no cache reuse) after the greedy prefix and the branch token."""
    head = [*greedy[:position], token]
    rest = _cut_at_stop(eng, plain_greedy(eng._model.target, prompt + head, max_new - len(head)))
    return eng.tokenizer.decode(head + rest, skip_special_tokens=False)


async def test_first_is_greedy_and_others_branch_once_then_go_on_greedily(engine):
    messages = [{"role": "user", "content": "def add(a, b):\n    return a + b\n"}]
    max_new = 24
    request = lambda: GenerationRequest(messages=messages, max_new_tokens=max_new)  # noqa: E731
    plain = await engine.generate(request())
    items = await engine.alternatives(request(), 4)

    prompt = engine._prompt_ids(request())
    greedy = _cut_at_stop(engine, plain_greedy(engine._model.target, prompt, max_new))
    assert items[0].text == plain.text == engine.tokenizer.decode(greedy, skip_special_tokens=False)
    assert items[0].branched_at is None
    assert len(items) == 4 and len({item.text for item in items}) == 4

    with torch.inference_mode():  # the target's own view of every greedy position, in one plain forward
        logits = engine._model.target(torch.tensor([prompt + greedy])).logits[0, len(prompt) - 1 :]
    for item in items[1:]:
        i = item.branched_at
        assert i is not None and 0 <= i <= len(greedy)
        ranked = logits[i].argsort(descending=True)[:8].tolist()
        matches = [t for t in ranked if (i == len(greedy) or t != greedy[i])
                   and _reference_branch(engine, prompt, greedy, i, t, max_new) == item.text]
        assert matches, f"item branching at {i} is no greedy continuation of a runner-up token"
        # The branch shared the prompt's and the greedy prefix's KV: only the branch token was prefilled.
        assert item.stats.reused_prompt_tokens >= len(prompt) + i


async def test_branches_stay_inside_the_text_the_stops_return(engine):
    messages = [{"role": "user", "content": "import os\n"}]
    request = lambda: GenerationRequest(  # noqa: E731
        messages=messages, max_new_tokens=40, stop_check=lambda text: 10 if len(text) >= 10 else None)
    plain = await engine.generate(request())
    items = await engine.alternatives(request(), 3)
    assert items[0].text == plain.text and len(plain.text) <= 10
    assert len(items) > 1
    for item in items[1:]:
        assert len(item.text) <= 10  # the request's stop_check applies to the whole branch text
        assert item.text != plain.text


async def test_one_alternative_is_just_greedy_and_cancel_stops_the_branches(engine):
    messages = [{"role": "user", "content": "go on"}]
    only = await engine.alternatives(GenerationRequest(messages=messages, max_new_tokens=8), 1)
    assert [c.text for c in only] == [(await engine.generate(GenerationRequest(messages=messages,
                                                                                max_new_tokens=8))).text]

    key = "completion:file:///x.py"
    older = GenerationRequest(messages=messages, max_new_tokens=400, supersede_key=key,
                              priority=Priority.INTERACTIVE)
    task = asyncio.create_task(engine.alternatives(older, 3))
    while key not in engine._branching:  # wait until it is branching
        assert not task.done()
        await asyncio.sleep(0.01)
    newer = await engine.generate(GenerationRequest(messages=messages, max_new_tokens=2, supersede_key=key,
                                                    priority=Priority.INTERACTIVE))
    assert newer.finish_reason in ("stop", "length")
    with pytest.raises(Cancelled, match="superseded"):  # the one cancel rule (engine/base.py)
        await asyncio.wait_for(task, 60)
    assert engine._scheduler.active == 0


def test_the_least_sure_position_is_branched_first():
    def row(chosen: int, probs: dict[int, float]) -> TokenChoices:
        top = sorted(((t, float(torch.tensor(p).log())) for t, p in probs.items()), key=lambda x: -x[1])
        return TokenChoices(chosen, dict(top)[chosen], top)

    rows = [row(5, {5: 0.95, 6: 0.05}), row(7, {7: 0.5, 8: 0.4, 9: 0.1}), row(1, {1: 0.6, 2: 0.4})]
    branches = choose_branches(rows, 3, skip={9})
    # Position 1 is where the model is least sure; 2's runner-up is also likely but comes after it.
    assert [(b.position, b.token) for b in branches] == [(1, 8), (2, 2), (0, 6)]
    assert choose_branches(rows, 3, skip={8, 2, 6, 9}) == []


async def test_scoring_reads_the_targets_own_distribution_at_every_position(engine):
    messages = [{"role": "user", "content": "x = 1\ny = x + 2\nprint(x, y)\n"}]
    request = GenerationRequest(messages=messages, max_new_tokens=12)
    await engine.generate(request)  # leaves the prompt's KV in the prefix cache, as alternatives does
    prompt = engine._prompt_ids(request)
    greedy = plain_greedy(engine._model.target, prompt, 12)
    handle = engine._scheduler.score(prompt, greedy[:6], [*greedy[:6], None], top_k=3)
    result = await asyncio.to_thread(handle.wait, 60)
    assert result.stats.reused_prompt_tokens == len(prompt) - 1  # only the last prompt token was fed again
    with torch.inference_mode():
        logits = engine._model.target(torch.tensor([prompt + greedy[:6]])).logits[0, len(prompt) - 1 :]
    expected = torch.log_softmax(logits.float(), dim=-1)
    assert len(result.scores) == 7
    for i, row in enumerate(result.scores):
        assert [t for t, _ in row.top] == expected[i].topk(3).indices.tolist()
        if i < 6:
            assert row.top[0][0] == greedy[i] == row.chosen  # greedy takes the top token
            assert row.chosen_logprob == pytest.approx(float(expected[i, greedy[i]]), abs=1e-4)
        else:
            assert row.chosen is None and row.chosen_logprob is None


def test_a_branch_stops_where_the_output_shaper_stops_the_whole_completion():
    """A branch's continuation is shaped with its head, by the one output shaper: a stop string may
    start in the head, and the request's stop_check sees only text before the first stop string."""
    seen: list[str] = []

    def check(text: str) -> int | None:
        seen.append(text)
        return text.find("!") if "!" in text else None

    stop = stop_after("x = EN", ["END"], check)
    assert stop("D + 1") == 0  # "END" started in the head: nothing of the continuation is kept
    assert stop("1 + 2") is None
    assert stop("1! + 2") == 1
    assert stop("1 END !") == 2  # cut at the stop string; the check never sees what follows it
    assert seen and not [text for text in seen if "END" in text]
