"""The worker (engine/scheduler.py): interleaved generations stay exact, priorities, supersession,
cancellation within one step, streaming and early stops.

Fixtures (conftest.py): `pair` the tiny Gemma 4 target + drafter + tokenizer, `reference` plain greedy.
Ordering is checked through the scheduler's `on_step` record of which job ran each step, never timing.
"""

from __future__ import annotations

import gc
import random
import threading
import weakref

import pytest

from gemma_lsp.engine.base import CancelToken, Priority
from gemma_lsp.engine.scheduler import DecodeParams, Scheduler, SchedulerConfig

from .engine_helpers import OracleDecoder, random_prompt


def make(pair, **config) -> Scheduler:
    return Scheduler(pair.target, pair.drafter, pair.tokenizer, SchedulerConfig(**config))


def record_steps(sched: Scheduler) -> list:
    steps: list = []
    sched.on_step = lambda job, seconds: steps.append(job)
    return steps


def test_interleaved_generations_are_each_exact(pair, reference):
    rng = random.Random(5)
    prompts = [random_prompt(rng, rng.randrange(10, 50)) for _ in range(5)]
    shared = random_prompt(rng, 30)
    prompts += [shared + [100, 101], shared + [102]]  # two that share a cached prefix
    truths = {tuple(p): reference(p, 40) for p in prompts}
    decoder = OracleDecoder(pair.target, pair.drafter, {k: v + [0] * 16 for k, v in truths.items()}, alpha=0.7)
    sched = Scheduler(pair.target, pair.drafter, pair.tokenizer, SchedulerConfig(prefill_chunk=8), decoder=decoder)
    steps = record_steps(sched)
    try:
        priorities = [Priority.BACKGROUND, Priority.FOREGROUND, Priority.INTERACTIVE]
        handles = [sched.submit(p, DecodeParams(max_new_tokens=int(30 + i), priority=priorities[i % 3]))
                   for i, p in enumerate(prompts)]
        results = [h.wait(120) for h in handles]
    finally:
        sched.close()
    for i, (prompt, result) in enumerate(zip(prompts, results, strict=True)):
        assert result.finish_reason == "length"
        assert result.token_ids == truths[tuple(prompt)][: 30 + i]
    assert sum(r.stats.accepted_tokens for r in results) > 0
    assert sum(r.stats.reused_prompt_tokens for r in results) > 0
    order = [job.order for job in steps]
    switches = sum(a != b for a, b in zip(order, order[1:], strict=False))
    assert switches > len(prompts)  # steps of different jobs alternate, not one job after another


def test_interactive_request_runs_ahead_of_a_long_background_one(pair, reference):
    sched = make(pair)
    steps = record_steps(sched)
    started = threading.Event()
    try:
        long = sched.submit(random_prompt(random.Random(1), 40),
                            DecodeParams(max_new_tokens=400, priority=Priority.BACKGROUND),
                            on_text=lambda text: started.set())
        assert started.wait(30)
        prompt = random_prompt(random.Random(2), 20)
        urgent = sched.submit(prompt, DecodeParams(max_new_tokens=12, priority=Priority.INTERACTIVE))
        result = urgent.wait(60)
        assert not long.done
        long.cancel()
        long.wait(30)
    finally:
        sched.close()
    assert result.token_ids == reference(prompt, 12)
    urgent_steps = [i for i, job in enumerate(steps) if job.handle is urgent]
    between = steps[urgent_steps[0] : urgent_steps[-1] + 1]
    assert all(job.handle is urgent for job in between)  # nothing else ran until it finished
    before = [job for job in steps[: urgent_steps[0]] if job.handle is long]
    assert len(before) >= 1


def test_newer_request_with_same_key_supersedes_the_older(pair, reference):
    sched = make(pair)
    try:
        prompt_a, prompt_b = random_prompt(random.Random(3), 30), random_prompt(random.Random(4), 30)
        older = sched.submit(prompt_a, DecodeParams(max_new_tokens=300, supersede_key="completion:file:///a.py"))
        other = sched.submit(prompt_a, DecodeParams(max_new_tokens=5, supersede_key="completion:file:///b.py"))
        newer = sched.submit(prompt_b, DecodeParams(max_new_tokens=10, supersede_key="completion:file:///a.py"))
        assert older.wait(30).finish_reason == "cancelled"
        assert older.cancel_token.reason == "superseded"
        assert newer.wait(30).token_ids == reference(prompt_b, 10)
        assert other.wait(30).finish_reason == "length"  # a different document is left alone
    finally:
        sched.close()


def test_cancel_stops_before_the_next_step_and_frees_the_cache(pair):
    sched = make(pair)
    steps = record_steps(sched)
    caches: list = []
    pieces: list[str] = []
    token = CancelToken()

    def on_text(text: str) -> None:
        # Runs on the worker during a step: remember the cache, then cancel after the third piece.
        pieces.append(text)
        if len(pieces) == 1:
            caches.append(weakref.ref(steps_job()[0].seq.cache))
        if len(pieces) == 3:
            token.cancel("user moved on")

    def steps_job():
        return [job for job in sched._active if job.handle is handle]

    try:
        handle = sched.submit(random_prompt(random.Random(6), 30), DecodeParams(max_new_tokens=500),
                              cancel=token, on_text=on_text)
        result = handle.wait(30)
    finally:
        sched.close()
    assert result.finish_reason == "cancelled"
    assert handle.steps_after_cancel == 0
    assert len(pieces) == 3  # no text after the step that saw the cancel
    ran = [job for job in steps if job.handle is handle]
    assert len(ran) == 1 + result.stats.target_steps  # prefill + the decode steps, none after cancel
    gc.collect()
    assert caches and caches[0]() is None  # the generation's cache is gone


def test_cancel_of_a_waiting_request_never_runs_it(pair):
    sched = make(pair)
    steps = record_steps(sched)
    started = threading.Event()
    try:
        busy = sched.submit(random_prompt(random.Random(7), 20),
                            DecodeParams(max_new_tokens=300, priority=Priority.INTERACTIVE),
                            on_text=lambda t: started.set())
        assert started.wait(30)
        waiting = sched.submit(random_prompt(random.Random(8), 20), DecodeParams(priority=Priority.BACKGROUND))
        waiting.cancel()
        assert waiting.wait(30).finish_reason == "cancelled"
        busy.cancel()
        busy.wait(30)
    finally:
        sched.close()
    assert not any(job.handle is waiting for job in steps)


def test_stream_equals_result_and_stop_strings_cut(pair):
    sched = make(pair)
    try:
        prompt = random_prompt(random.Random(9), 25)
        pieces: list[str] = []
        full = sched.submit(prompt, DecodeParams(max_new_tokens=40), on_text=pieces.append).wait(30)
        assert "".join(pieces) == full.text and len(pieces) > 1
        stop = full.text[12:15]
        pieces = []
        cut = sched.submit(prompt, DecodeParams(max_new_tokens=40, stop=[stop]), on_text=pieces.append).wait(30)
        assert cut.finish_reason == "stop"
        assert cut.text == full.text[: full.text.find(stop)]
        assert "".join(pieces) == cut.text
    finally:
        sched.close()


def test_stop_check_and_end_tokens_end_early(pair, reference):
    sched = make(pair)
    try:
        prompt = random_prompt(random.Random(10), 25)
        full = sched.submit(prompt, DecodeParams(max_new_tokens=40)).wait(30)
        checked = sched.submit(prompt, DecodeParams(
            max_new_tokens=40, stop_check=lambda text: 7 if len(text) >= 7 else None)).wait(30)
        assert checked.finish_reason == "stop" and checked.text == full.text[:7]
        assert checked.stats.new_tokens < 40
        truth = reference(prompt, 40)
        end = next(i for i, t in enumerate(truth) if t not in truth[:i] and i >= 5)
        ended = sched.submit(prompt, DecodeParams(max_new_tokens=40, eos_token_ids={truth[end]})).wait(30)
        assert ended.finish_reason == "stop" and ended.stop_token == truth[end]
        assert ended.token_ids == truth[:end]
    finally:
        sched.close()


def test_bad_input_is_refused_and_changes_nothing(pair):
    with pytest.raises(ValueError):
        SchedulerConfig(draft_tokens=0)
    with pytest.raises(ValueError):
        SchedulerConfig(prefill_chunk=0)
    sched = make(pair, context_limit_tokens=64)
    try:
        with pytest.raises(ValueError):
            sched.submit([], DecodeParams())
        with pytest.raises(ValueError, match="context limit") as refused:
            sched.submit(list(range(3, 100)), DecodeParams())
        # The limit is the model's, not the completion prompt budget's: no advice to raise that setting.
        assert "lower gemma.maxContextTokens" in str(refused.value)
        assert "setting maxContextTokens" not in str(refused.value)
        with pytest.raises(ValueError):
            sched.submit([2, 5, 6], DecodeParams(max_new_tokens=0))
        assert sched.active == 0
        result = sched.submit([2] + list(range(20, 60)), DecodeParams(max_new_tokens=100)).wait(30)
        assert result.finish_reason == "length" and len(result.token_ids) <= 64 - 41 + 1
    finally:
        sched.close()
    with pytest.raises(RuntimeError):
        sched.submit([2, 5], DecodeParams())


def test_a_failing_request_does_not_take_others_down(pair, reference):
    sched = make(pair)

    def explode(text: str) -> None:
        raise RuntimeError("callback broke")

    try:
        prompt = random_prompt(random.Random(11), 20)
        bad = sched.submit(prompt, DecodeParams(max_new_tokens=20), on_text=explode)
        good = sched.submit(prompt, DecodeParams(max_new_tokens=20))
        failed = bad.wait(30)
        assert failed.finish_reason == "error" and "callback broke" in str(failed.error)
        assert good.wait(30).token_ids == reference(prompt, 20)
    finally:
        sched.close()


def test_draft_schedule_carries_over_to_the_next_request(pair):
    """The tiny random drafter is never right: the first request learns it, the next starts from that."""
    sched = make(pair, prompt_lookup=False)
    try:
        prompt = random_prompt(random.Random(12), 20)
        first = sched.submit(prompt, DecodeParams(max_new_tokens=40)).wait(30)
        assert first.stats.drafted_tokens >= 1 and first.stats.accepted_tokens == 0
        assert sched.drafting.acceptance("drafter", "").rate < 0.5  # down from the prior
        second = sched.submit(prompt, DecodeParams(max_new_tokens=40)).wait(30)
        assert second.stats.drafted_tokens <= first.stats.drafted_tokens
        assert sched.drafting.acceptance("drafter", "completion").rate == 0.5  # other purposes: untouched
    finally:
        sched.close()


def test_a_request_can_opt_out_of_the_drafter_and_both_stay_exact(pair, reference):
    """Two requests side by side on one worker, one without the drafter: only the other drafts."""
    rng = random.Random(13)
    prompt = random_prompt(rng, 20)
    truth = reference(prompt, 30)
    decoder = OracleDecoder(pair.target, pair.drafter, {tuple(prompt): truth + [0] * 16}, alpha=1.0)
    sched = Scheduler(pair.target, pair.drafter, pair.tokenizer, SchedulerConfig(prompt_lookup=False),
                      decoder=decoder)
    try:
        drafted = sched.submit(prompt, DecodeParams(max_new_tokens=30))
        plain = sched.submit(prompt, DecodeParams(max_new_tokens=30, use_drafter=False))
        with_drafter, without = drafted.wait(60), plain.wait(60)
    finally:
        sched.close()
    assert with_drafter.token_ids == without.token_ids == truth
    assert with_drafter.stats.accepted_tokens > 0
    assert without.stats.drafted_tokens == 0 and without.stats.target_steps == 29
