"""`python -m gemma_lsp.bench engine`: how close the local engine gets to what the hardware allows.

Everything is a ratio measured within one run (these machines are shared and noisy):

- spec[]: a random Gemma 4 target of ~130M parameters (one target step dominates) and a Gemma 4
  assistant whose drafts are right with probability alpha (`AlphaControl`: the real drafter runs, so it
  costs what a drafter costs). Per alpha: fixed draft lengths and the cost model (engine/drafting.py)
  on the bare decoder, in lockstep with plain greedy, with the ideal speedup a loop without overhead
  would reach at alpha given the measured step costs; then the cost model as whole requests through
  the scheduler (the server's path), so its overhead shows.
- peer[]: transformers' own `generate(assistant_model=drafter)` at its best of 2/4/6 drafts against our
  scheduler, same target, drafter and drafts, alternating in this process; both checked against greedy.
- prefix_ttft_ratio: time to first token after a one-token edit 30 tokens before the end of a
  2,000-token prompt, with the prompt cache warm, over cold.
- cancel_steps: time from cancel() to the worker dropping the job, in decoding steps.
- sched_latency_ratio: an inline completion's latency while a long background generation runs, over
  its latency on an idle engine.
- rss_growth_ratio: resident memory after 1,000 mixed requests (tiny model) over after the first 10.
- rewrite: target steps per generated token when the output copies a window of the prompt with one
  change (a next edit), without prompt lookup, with short and with long lookup drafts (bench/rewrite.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from gemma_lsp.bench.rewrite import bench_rewrite, print_rewrite
from gemma_lsp.engine.base import Priority
from gemma_lsp.engine.drafting import DraftPolicy, DraftStats, expected_tokens
from gemma_lsp.engine.scheduler import DecodeParams, Scheduler, SchedulerConfig
from gemma_lsp.engine.speculative import Decoder, Sequence, greedy_reference

ALPHAS = (0.0, 0.5, 0.8, 0.95, 1.0)
VOCAB = 32768


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine a 2-thread matmul waits for its "
                             "slower half, so ratios get noisier; 0 = torch's default)")


# -- models ------------------------------------------------------------------------------------


def build_pair(device: str, dtype: torch.dtype, seed: int = 0) -> tuple[Any, Any]:
    """A random ~130M Gemma 4 target (5:1 sliding:full layers, window 512) and a matching assistant."""
    from transformers import (
        Gemma4AssistantConfig,
        Gemma4AssistantForCausalLM,
        Gemma4ForCausalLM,
        Gemma4TextConfig,
    )

    common: dict[str, Any] = dict(vocab_size=VOCAB, num_key_value_heads=4, head_dim=64, global_head_dim=64, sliding_window=512,
                  hidden_size_per_layer_input=0, vocab_size_per_layer_input=0, pad_token_id=0, eos_token_id=1,
                  bos_token_id=2, max_position_embeddings=4096)
    target_config = Gemma4TextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                     num_attention_heads=12,
                                     layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 2, **common)
    drafter_config = Gemma4AssistantConfig(
        backbone_hidden_size=768,
        text_config=dict(model_type="gemma4_text", hidden_size=256, intermediate_size=1024, num_hidden_layers=2,
                         num_attention_heads=4, layer_types=["sliding_attention", "full_attention"], **common))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        target = Gemma4ForCausalLM(target_config).eval().to(device=device, dtype=dtype)
        drafter = Gemma4AssistantForCausalLM(drafter_config).eval().to(device=device, dtype=dtype)
    return target, drafter


class IdsTokenizer:
    """Detokenizes ids of the random bench model as one CJK character each (text only feeds streaming)."""

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(chr(0x4E00 + i % 20000) for i in ids)


class AlphaControl:
    """Makes the drafter's drafts right with probability alpha, the same way for every caller.

    The drafter module runs for real (so it costs what a drafter costs); on its way out, the argmax of
    its logits is swapped with the true greedy token (right, with probability alpha) or a wrong one.
    Swapping keeps the drafter's own max probability, so its confidence says what it says about a
    real random drafter: nothing. The decision depends only on (seed, position, draft index), and both
    our decoder and transformers' MTP candidate generator call the drafter once per draft at the
    constant position of the newest verified token, so both see exactly the same drafts.
    """

    def __init__(self, drafter: Any) -> None:
        self.alpha: float | None = None  # None: drafts pass through untouched
        self.truth: list[int] = []  # prompt + the target's greedy continuation
        self.seed = 0
        self._last, self._index = -1, 0
        base = type(drafter)
        control = self

        # transformers picks its MTP candidate generator by the class name ("Gemma4Assistant...").
        class Gemma4AssistantAlphaControlled(base):  # type: ignore[misc, valid-type]
            def forward(self, *args: Any, **kwargs: Any) -> Any:
                return control.apply(base.forward(self, *args, **kwargs), kwargs["position_ids"])

        drafter.__class__ = Gemma4AssistantAlphaControlled

    def set(self, alpha: float | None, truth: list[int], seed: int = 0) -> None:
        self.alpha, self.truth, self.seed, self._last = alpha, truth, seed, -1

    def apply(self, out: Any, position_ids: torch.Tensor) -> Any:
        if self.alpha is None:
            return out
        position = int(position_ids.view(-1)[-1])
        self._index = self._index + 1 if position == self._last else 0
        self._last = position
        at = position + 1 + self._index
        right = self.truth[at] if at < len(self.truth) else 0
        lucky = random.Random(f"{self.seed}:{position}:{self._index}").random() < self.alpha
        chosen = right if lucky else (right + 1) % VOCAB
        logits = out.logits.clone()
        row = logits[0, -1]  # (V,)
        top = int(row.argmax())
        row[[top, chosen]] = row[[chosen, top]]
        out.logits = logits
        return out


# -- speculative efficiency --------------------------------------------------------------------


def _prefilled(decoder: Decoder, prompt: list[int]) -> Sequence:
    seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
    decoder.prefill(seq, prompt, last=True)
    return seq


def decoding(decoder: Decoder, prompt: list[int], n: int, policy: DraftPolicy | None,
             totals: dict[str, float]) -> Iterator[None]:
    """Decode n tokens after an untimed prefill, one step per `next()`, adding up into `totals`.

    policy None: plain greedy steps. Drafting and verifying are timed separately, so each run also
    measures its own step costs. A generator, so two runs can advance in lockstep (`lockstep`).
    """
    seq = _prefilled(decoder, prompt)
    totals.update(seconds=0.0, steps=0, drafted=0, accepted=0, rejections=0, draft_s=0.0, verify_s=0.0)
    while len(seq.generated) < n:
        yield
        t0 = time.perf_counter()
        drafts = policy.propose(seq, n - len(seq.generated) - 1) if policy else []
        t1 = time.perf_counter()
        step = decoder.step(seq, drafts)
        t2 = time.perf_counter()
        if policy:
            policy.update(step.drafted, step.accepted, draft_seconds=t1 - t0, verify_seconds=t2 - t1)
            if policy.source == "drafter":
                totals["draft_s"] += t1 - t0
        totals["seconds"] += time.perf_counter() - t0
        totals["verify_s"] += t2 - t1
        totals["steps"] += 1
        totals["drafted"] += step.drafted
        totals["accepted"] += step.accepted
        totals["rejections"] += step.accepted < step.drafted
    totals["tokens"] = len(seq.generated)
    seq.free()


def lockstep(*runs: Iterator[None]) -> None:
    """Advance the runs one step each in turn, so load changes on a shared machine hit them alike."""
    active = list(runs)
    while active:
        for run in list(active):
            try:
                next(run)
            except StopIteration:
                active.remove(run)


class _CostModel:
    """Step costs in units of one plain target step: a drafter step, and a verify of k drafts
    (measured at the fixed k runs, linear in between, flat beyond; k = 0 is a plain step)."""

    def __init__(self, draft: float, verify_points: dict[int, list[float]]) -> None:
        self.draft = draft
        self.points = sorted([(0, 1.0)] + [(k, statistics.median(v)) for k, v in verify_points.items()])

    def verify(self, k: int) -> float:
        for (k0, v0), (k1, v1) in zip(self.points, self.points[1:], strict=False):
            if k0 <= k <= k1:
                return v0 + (v1 - v0) * (k - k0) / (k1 - k0)
        return self.points[-1][1]

    def ideal(self, alpha: float, k: int) -> float:
        """Speedup of a zero-overhead loop: expected tokens per step over its cost in plain steps."""
        return expected_tokens(alpha, k) / (k * self.draft + self.verify(k))


def _sum(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(r[key] for r in runs) for key in runs[0]}


def _requests(sched: Scheduler, prompt: list[int], n: int, truth: list[int]) -> float:
    """One request through the scheduler (the server's path), output checked; its wall time."""
    start = time.perf_counter()
    result = sched.submit(prompt, DecodeParams(max_new_tokens=n, prompt_lookup=False, purpose="bench")).wait()
    seconds = time.perf_counter() - start
    if result.token_ids != truth[len(prompt) : len(prompt) + n]:
        raise AssertionError("the scheduler's output differs from plain greedy")
    return seconds


def bench_spec(target: Any, drafter: Any, control: AlphaControl, quick: bool,
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per alpha: fixed draft lengths and the cost model on the bare decoder, each in lockstep with a
    plain greedy run (one step of each in turn, so both see the same load), then the cost model as
    requests through the scheduler, alternating with plain requests through another scheduler."""
    rng = random.Random(1)
    prompt = [2] + [rng.randrange(16, VOCAB) for _ in range(63)]
    n = 32 if quick else 48
    alphas = (0.0, 0.8, 1.0) if quick else ALPHAS
    fixed_ks = [4] if quick else [2, 4, 8]
    repeats = 1 if quick else 2
    plain = Decoder(target)
    truth = prompt + greedy_reference(target, prompt, n + 20)
    lockstep(decoding(plain, prompt, 8, None, {}))  # warm-up
    # Step costs describe the machine, so they carry from row to row as in a server; the acceptance
    # estimates start afresh at every alpha (`_scheduler_row`), as for a new kind of request.
    sched = Scheduler(target, drafter, IdsTokenizer(), SchedulerConfig(kv_cache_budget_bytes=0))
    rows: list[dict[str, Any]] = []
    plain_steps: list[float] = []
    draft_steps: list[float] = []
    verify_points: dict[int, list[float]] = {}  # k -> verify seconds over plain step seconds
    learned: dict[str, Any] = {}
    speculative = Decoder(target, drafter)
    try:
        for alpha in alphas:
            control.set(alpha, truth)
            stats = DraftStats()  # the bare cost model's memory, as the scheduler keeps it
            lockstep(decoding(speculative, prompt, n, DraftPolicy(decoder=speculative, stats=stats), {}))
            measured: dict[str, float] = {}
            for k in [*map(str, fixed_ks), "adaptive", "scheduler"]:
                if k == "scheduler":
                    rows.append(_scheduler_row(sched, control, prompt, n, truth, alpha, repeats, rows[-1],
                                               learned))
                    continue
                bases, runs = [], []
                for r in range(repeats):
                    control.set(alpha, truth, seed=r)
                    if k == "adaptive":
                        policy = DraftPolicy(decoder=speculative, stats=stats)
                    else:
                        policy = DraftPolicy(decoder=speculative, stats=DraftStats(), fixed_k=int(k))
                    base: dict[str, float] = {}
                    run: dict[str, float] = {}
                    lockstep(decoding(plain, prompt, n, None, base), decoding(speculative, prompt, n, policy, run))
                    bases.append(base)
                    runs.append(run)
                base, run = _sum(bases), _sum(runs)
                t1 = base["seconds"] / base["steps"]
                plain_steps.append(t1)
                if run["drafted"]:
                    draft_steps.append(run["draft_s"] / run["drafted"] / t1)
                verify = run["verify_s"] / run["steps"] / t1
                if k != "adaptive":
                    verify_points.setdefault(int(k), []).append(verify)
                model = _CostModel(statistics.median(draft_steps) if draft_steps else 0.0, verify_points)
                # adaptive: the best fixed k, 0 included, for a zero-overhead loop with the measured costs
                ideal = (max(model.ideal(alpha, kk) for kk in range(0, 9)) if k == "adaptive"
                         else model.ideal(alpha, int(k)))
                speedup = base["seconds"] / run["seconds"]
                measured[k] = speedup
                observed = run["accepted"] / (run["accepted"] + run["rejections"]) if run["drafted"] else 0.0
                tokens_per_step = run["tokens"] / run["steps"]
                loop_ideal = tokens_per_step / (run["draft_s"] / run["steps"] / t1 + verify)
                row = dict(alpha=alpha, path="decoder", draft_tokens=k if k == "adaptive" else int(k),
                           accepted_per_step=round(run["accepted"] / run["steps"], 3),
                           mean_draft_length=round(run["drafted"] / run["steps"], 2),
                           observed_alpha=round(observed, 3),
                           speedup=round(speedup, 3), ideal_speedup=round(ideal, 3),
                           efficiency=round(speedup / ideal, 3),
                           loop_efficiency=round(speedup / loop_ideal, 3),
                           verify_cost=round(verify, 3))
                if k == "adaptive":
                    best_fixed = max([1.0, *(v for kk, v in measured.items() if kk != "adaptive")])
                    row["vs_best_fixed"] = round(speedup / best_fixed, 3)
                rows.append(row)
    finally:
        sched.close()
        control.set(None, [])
    costs = dict(plain_step_s=statistics.median(plain_steps), tokens=n,
                 drafter_step_cost=statistics.median(draft_steps) if draft_steps else 0.0,
                 verify_cost={k: round(statistics.median(v), 3) for k, v in sorted(verify_points.items())},
                 **learned)
    return rows, costs


def _scheduler_row(sched: Scheduler, control: AlphaControl, prompt: list[int], n: int,
                   truth: list[int], alpha: float, repeats: int,
                   adaptive_row: dict[str, Any], learned: dict[str, Any]) -> dict[str, Any]:
    """The cost model through the scheduler, the server's path: a request with the drafter and one
    without are submitted together, so the worker alternates their steps (both see the same load); each
    one's time is the sum of its own decoding units as the worker timed them (prefill excluded, as in
    the decoder rows). The speedup is summed plain over summed ours."""
    seconds: dict[int, float] = {}
    firsts: set[int] = set()

    def on_step(job: Any, spent: float) -> None:
        if job.order in firsts:  # units after the one that prefilled
            seconds[job.order] = seconds.get(job.order, 0.0) + spent
        firsts.add(job.order)

    sched.drafting = DraftStats(costs=sched.drafting.costs)
    control.set(alpha, truth, seed=99)
    _requests(sched, prompt, n, truth)  # a previous request at this alpha: what the scheduler carries over
    sched.on_step = on_step
    ours = base = 0.0
    try:
        for r in range(repeats * 2):
            control.set(alpha, truth, seed=r)
            with_drafter = sched.submit(prompt, DecodeParams(max_new_tokens=n, prompt_lookup=False, purpose="bench"))
            plain = sched.submit(prompt, DecodeParams(max_new_tokens=n, prompt_lookup=False, purpose="bench",
                                                      use_drafter=False))
            for handle in (with_drafter, plain):
                if handle.wait().token_ids != truth[len(prompt) : len(prompt) + n]:
                    raise AssertionError("the scheduler's output differs from plain greedy")
            ours_order, plain_order = sorted(seconds)[-2:]
            ours += seconds[ours_order]
            base += seconds[plain_order]
    finally:
        sched.on_step = None
    learned.setdefault("scheduler_costs", {})[alpha] = sched.drafting.costs.measured()
    learned.setdefault("confidence_bins", {})[alpha] = sched.drafting.gate.table()
    learned.setdefault("early_exits", {})[alpha] = sched.drafting.gate.cut_tokens
    speedup = base / ours
    ideal = adaptive_row["ideal_speedup"]
    return dict(alpha=alpha, path="scheduler", draft_tokens="adaptive", speedup=round(speedup, 3),
                ideal_speedup=ideal, efficiency=round(speedup / ideal, 3),
                scheduler_over_decoder=round(speedup / adaptive_row["speedup"], 3))


# -- the peer: transformers' own assisted generation ----------------------------------------------


def bench_peer(target: Any, drafter: Any, control: AlphaControl, quick: bool) -> list[dict[str, Any]]:
    """transformers' `generate(assistant_model=drafter)` at k = 2, 4, 6 (its best counts) against our
    scheduler on the same target, drafter and alpha control, whole requests alternating in one process.
    A `plain` row compares plain greedy: `generate()` without a drafter against our scheduler without."""
    from transformers import GenerationConfig
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # eos_token_id=[-1] (never stop early) warns on every generate()

    rng = random.Random(6)
    prompt = [2] + [rng.randrange(16, VOCAB) for _ in range(63)]
    n = 32 if quick else 64
    alphas = (0.0, 0.8, 1.0) if quick else ALPHAS
    ks = (2, 4, 6)
    repeats = 1 if quick else 2
    truth = prompt + greedy_reference(target, prompt, n + 20)
    expected = truth[len(prompt) : len(prompt) + n]
    ids = torch.tensor([prompt], device=target.device)
    config = GenerationConfig(do_sample=False, max_new_tokens=n, min_new_tokens=0, eos_token_id=[-1],
                              pad_token_id=0)

    def peer(assistant: Any | None) -> float:
        start = time.perf_counter()
        out = target.generate(ids, generation_config=config, assistant_model=assistant)
        seconds = time.perf_counter() - start
        if out[0, len(prompt) :].tolist() != expected:
            raise AssertionError("transformers' output differs from plain greedy")
        return seconds

    rows: list[dict[str, Any]] = []
    plain_sched = Scheduler(target, None, IdsTokenizer(), SchedulerConfig(use_drafter=False, prompt_lookup=False,
                                                                          kv_cache_budget_bytes=0))
    sched = Scheduler(target, drafter, IdsTokenizer(), SchedulerConfig(kv_cache_budget_bytes=0))
    try:
        control.set(None, truth)
        peer(None)  # warm-up
        theirs = ours = 0.0
        for _ in range(repeats * 2):
            theirs += peer(None)
            ours += _requests(plain_sched, prompt, n, truth)
        rows.append(dict(alpha="plain", peer_k=0, peer_tok_s=round(n * repeats * 2 / theirs, 2),
                         ours_tok_s=round(n * repeats * 2 / ours, 2), ratio=round(theirs / ours, 3)))
        for alpha in alphas:
            sched.drafting = DraftStats(costs=sched.drafting.costs)  # as in bench_spec's scheduler rows
            control.set(alpha, truth, seed=99)
            _requests(sched, prompt, n, truth)  # a previous request: what the scheduler carries over
            per_k = dict.fromkeys(ks, 0.0)
            ours = 0.0
            for r in range(repeats):
                for k in ks:
                    control.set(alpha, truth, seed=r)
                    drafter.generation_config.num_assistant_tokens = k
                    per_k[k] += peer(drafter)
                    control.set(alpha, truth, seed=r)
                    ours += _requests(sched, prompt, n, truth)
            best = min(ks, key=lambda k: per_k[k])
            peer_tok_s = n * repeats / per_k[best]
            ours_tok_s = n * repeats * len(ks) / ours
            rows.append(dict(alpha=alpha, peer_k=best, peer_tok_s=round(peer_tok_s, 2),
                             ours_tok_s=round(ours_tok_s, 2), ratio=round(ours_tok_s / peer_tok_s, 3)))
    finally:
        sched.close()
        plain_sched.close()
        control.set(None, [])
    return rows


# -- prefix reuse, cancellation, scheduling ----------------------------------------------------


def bench_prefix(target: Any, drafter: Any, quick: bool) -> dict[str, float]:
    rng = random.Random(2)
    length = 600 if quick else 2000
    prompt = [2] + [rng.randrange(16, VOCAB) for _ in range(length - 1)]
    edited = list(prompt)
    edited[-30] = (edited[-30] + 1) % VOCAB
    sched = Scheduler(target, drafter, IdsTokenizer(), SchedulerConfig(max_context_tokens=4096))
    try:
        cold = sched.submit(prompt, DecodeParams(max_new_tokens=1)).wait().stats
        warm = sched.submit(edited, DecodeParams(max_new_tokens=1)).wait().stats
        sched.prefix_cache.clear()
        cold_again = sched.submit(edited, DecodeParams(max_new_tokens=1)).wait().stats
    finally:
        sched.close()
    cold_s = min(cold.first_token_seconds, cold_again.first_token_seconds)
    return dict(prompt_tokens=length, cold_ttft_s=cold_s, warm_ttft_s=warm.first_token_seconds,
                reused_tokens=warm.reused_prompt_tokens, prefix_ttft_ratio=warm.first_token_seconds / cold_s)


def _setter(event: threading.Event) -> Callable[[str], None]:
    """An on_text callback that sets `event` (the generation has started streaming)."""
    return lambda text: event.set()


def bench_cancel(target: Any, drafter: Any, quick: bool) -> dict[str, float]:
    """Cancel a long generation at different moments; measure cancel -> worker free in decoding steps.

    The unit is the step that was running when the cancel came (it finishes; no further step starts),
    so <= 1 means nothing but that step's remainder and the cleanup stood between cancel and free.
    The same time over the median step is reported too.
    """
    sched = Scheduler(target, drafter, IdsTokenizer())
    spans: list[tuple[float, float]] = []  # (start, end) of every step

    def on_step(job: Any, seconds: float) -> None:
        end = time.perf_counter()
        spans.append((end - seconds, end))

    sched.on_step = on_step
    in_flight, over_median, after = [], [], 0
    rng = random.Random(3)
    try:
        for trial in range(2 if quick else 5):
            prompt = [2] + [rng.randrange(16, VOCAB) for _ in range(40)]
            started = threading.Event()
            handle = sched.submit(prompt, DecodeParams(max_new_tokens=2000), on_text=_setter(started))
            started.wait()
            time.sleep(0.05 + 0.037 * trial)  # land the cancel at different points of a step
            handle.cancel()
            handle.wait()
            assert handle.freed_at is not None and handle.cancelled_at is not None
            waited = handle.freed_at - handle.cancelled_at
            running = [end - start for start, end in spans if start <= handle.cancelled_at <= end]
            in_flight.append(waited / running[0] if running else 0.0)
            over_median.append(waited / statistics.median(end - start for start, end in spans))
            after += handle.steps_after_cancel
    finally:
        sched.close()
    return dict(cancel_steps=max(in_flight), cancel_steps_over_median_step=max(over_median),
                steps_started_after_cancel=after)


def bench_sched(target: Any, drafter: Any, quick: bool) -> dict[str, float]:
    """Pairs of (idle, busy) inline completions; busy = while a long background generation decodes."""
    rng = random.Random(4)

    def prompt(n: int) -> list[int]:
        return [2] + [rng.randrange(16, VOCAB) for _ in range(n - 1)]

    def inline_latency() -> float:
        start = time.perf_counter()
        sched.submit(prompt(200), DecodeParams(max_new_tokens=16, priority=Priority.INTERACTIVE)).wait()
        return time.perf_counter() - start

    sched = Scheduler(target, drafter, IdsTokenizer(), SchedulerConfig(kv_cache_budget_bytes=0))
    idle, busy, ratios = [], [], []
    try:
        inline_latency()  # warm-up
        for _ in range(1 if quick else 3):
            idle.append(inline_latency())
            decoding = threading.Event()
            long = sched.submit(prompt(400), DecodeParams(max_new_tokens=4000, priority=Priority.BACKGROUND),
                                on_text=_setter(decoding))
            decoding.wait()
            time.sleep(0.2)
            busy.append(inline_latency())
            long.cancel()
            long.wait()
            ratios.append(busy[-1] / idle[-1])
    finally:
        sched.close()
    return dict(idle_latency_s=statistics.median(idle), busy_latency_s=statistics.median(busy),
                sched_latency_ratio=statistics.median(ratios))


# -- memory ------------------------------------------------------------------------------------


def bench_rss(quick: bool) -> dict[str, float]:
    import psutil

    from gemma_lsp.models import tiny

    pair = tiny.build()
    process = psutil.Process()
    sched = Scheduler(pair.target, pair.drafter, pair.tokenizer,
                      SchedulerConfig(kv_cache_budget_bytes=4 << 20, prefill_chunk=64))
    rng = random.Random(5)
    total = 200 if quick else 1000
    rss_10 = 0
    files = [[2] + [rng.randrange(16, 512) for _ in range(rng.randrange(50, 400))] for _ in range(8)]
    try:
        for i in range(total):
            base = files[i % len(files)]
            prompt = list(base)
            prompt[rng.randrange(1, len(prompt))] = rng.randrange(16, 512)  # an edit
            kind = i % 4
            params = DecodeParams(
                max_new_tokens=rng.choice([8, 24, 64]),
                priority=[Priority.INTERACTIVE, Priority.FOREGROUND, Priority.BACKGROUND][i % 3],
                supersede_key=f"completion:{i % 8}" if kind == 0 else None,
                stop=["\n"] if kind == 1 else (),
            )
            handle = sched.submit(prompt, params)
            if kind == 2 and rng.random() < 0.5:
                handle.cancel()
            if kind != 0 or i % 16 == 0:  # superseded ones are left to the next of their key
                handle.wait()
            if i == 9:
                _settle(sched)
                rss_10 = process.memory_info().rss
        _settle(sched)
        rss_end = process.memory_info().rss
    finally:
        sched.close()
    return dict(requests=total, rss_after_10_mb=rss_10 / 2**20, rss_after_all_mb=rss_end / 2**20,
                rss_growth_ratio=rss_end / rss_10)


def _settle(sched: Scheduler) -> None:
    while sched.active:
        time.sleep(0.01)
    gc.collect()


# -- the run -----------------------------------------------------------------------------------


def machine_info(device: str, dtype: str) -> dict[str, Any]:
    import transformers

    info = dict(platform=platform.platform(), python=platform.python_version(), cpu_count=os.cpu_count(),
                torch=torch.__version__, transformers=transformers.__version__, threads=torch.get_num_threads(),
                device=device, dtype=dtype, load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = getattr(args, "device", "cpu")
    dtype_name = getattr(args, "dtype", "float32")
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    quick = bool(getattr(args, "quick", False))
    began = time.perf_counter()
    target, drafter = build_pair(device, getattr(torch, dtype_name))
    params = sum(p.numel() for p in target.parameters())
    print(f"target {params / 1e6:.0f}M parameters, drafter "
          f"{sum(p.numel() for p in drafter.parameters()) / 1e6:.0f}M, {device} {dtype_name}, "
          f"{torch.get_num_threads()} threads{' (quick)' if quick else ''}")
    sections: dict[str, float] = {}

    def timed(name: str, fn: Any, *fn_args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*fn_args)
        sections[name] = round(time.perf_counter() - start, 1)
        return out

    control = AlphaControl(drafter)
    with torch.inference_mode():
        spec, costs = timed("spec", bench_spec, target, drafter, control, quick)
    _print_spec(spec, costs)
    with torch.inference_mode():
        peer = timed("peer", bench_peer, target, drafter, control, quick)
    _print_peer(peer)
    prefix = timed("prefix", bench_prefix, target, drafter, quick)
    cancel = timed("cancel", bench_cancel, target, drafter, quick)
    sched = timed("sched", bench_sched, target, drafter, quick)
    rewrite = timed("rewrite", bench_rewrite, target, VOCAB, quick)
    print_rewrite(rewrite)
    del target, drafter
    gc.collect()
    rss = timed("rss", bench_rss, quick)
    result = dict(
        spec=spec,
        peer=peer,
        prefix_ttft_ratio=round(prefix["prefix_ttft_ratio"], 4),
        cancel_steps=round(cancel["cancel_steps"], 3),
        sched_latency_ratio=round(sched["sched_latency_ratio"], 3),
        rss_growth_ratio=round(rss["rss_growth_ratio"], 4),
        rewrite=rewrite,
        details=dict(costs=costs, prefix=prefix, cancel=cancel, sched=sched, rss=rss,
                     target_parameters=params),
        machine=machine_info(device, dtype_name),
        quick=quick,
        seconds=round(time.perf_counter() - began, 1),
        section_seconds=sections,
    )
    _print_rest(result)
    return result


def _print_spec(rows: list[dict[str, Any]], costs: dict[str, Any]) -> None:
    print(f"\nplain greedy {1 / costs['plain_step_s']:.1f} tok/s ({costs['plain_step_s'] * 1e3:.0f} ms a step); "
          f"one drafter step costs {costs['drafter_step_cost']:.3f} of a target step; verifying k drafts costs "
          + ", ".join(f"k={k}: {v:.2f}" for k, v in costs["verify_cost"].items()))
    print(f"\n{'alpha':>6} {'path':>9} {'k':>9} {'mean k':>7} {'acc/step':>9} {'alpha^':>7} {'speedup':>8} "
          f"{'ideal':>7} {'effic.':>7} {'loop':>6} {'vs best':>8}")
    for r in rows:
        if r["path"] == "scheduler":
            print(f"{r['alpha']:>6} {'scheduler':>9} {'adaptive':>9} {'':>7} {'':>9} {'':>7} {r['speedup']:>8.2f} "
                  f"{r['ideal_speedup']:>7.2f} {r['efficiency']:>7.2f} {'':>6} "
                  f"{'':>8}  (scheduler / decoder {r['scheduler_over_decoder']:.2f})")
            continue
        print(f"{r['alpha']:>6} {'decoder':>9} {r['draft_tokens']!s:>9} {r['mean_draft_length']:>7.2f} "
              f"{r['accepted_per_step']:>9.2f} {r['observed_alpha']:>7.2f} {r['speedup']:>8.2f} "
              f"{r['ideal_speedup']:>7.2f} {r['efficiency']:>7.2f} {r['loop_efficiency']:>6.2f} "
              f"{r.get('vs_best_fixed', ''):>8}")
    print("ideal: a zero-overhead loop at this alpha with the measured drafter and verify costs (adaptive: the "
          "best fixed k, 0 included); effic. = speedup / ideal; alpha^: acceptance the run actually drew; "
          "loop: speedup over a zero-overhead loop with the acceptance drawn; vs best: adaptive over the best "
          "measured fixed k (plain included); scheduler: requests through the server's path, in lockstep with plain requests, prefill excluded")
    bins = costs.get("confidence_bins", {})
    if bins:
        print("early exit — acceptance by the drafter's max probability (scheduler runs): " + "; ".join(
            f"alpha {a}: " + ", ".join(f">={b['low']}: {b['acceptance']} of {b['trials']:.0f}" for b in table)
            + f", {costs['early_exits'][a]} drafts cut" for a, table in bins.items()))


def _print_peer(rows: list[dict[str, Any]]) -> None:
    print("\ntransformers generate(assistant_model=drafter), best of num_assistant_tokens 2/4/6, against our "
          "scheduler; same target, drafter and alpha control, alternating, outputs equal plain greedy")
    print(f"{'alpha':>6} {'peer k':>7} {'peer tok/s':>11} {'ours tok/s':>11} {'ratio':>7}")
    for r in rows:
        print(f"{r['alpha']!s:>6} {r['peer_k']:>7} {r['peer_tok_s']:>11.1f} {r['ours_tok_s']:>11.1f} {r['ratio']:>7.2f}")


def _print_rest(result: dict[str, Any]) -> None:
    d = result["details"]
    print(f"\n{'measure':<24} {'value':>8}  target  context")
    print(f"{'prefix_ttft_ratio':<24} {result['prefix_ttft_ratio']:>8.3f}  <= 0.2  "
          f"cold {d['prefix']['cold_ttft_s']:.2f}s, warm {d['prefix']['warm_ttft_s']:.3f}s, "
          f"{d['prefix']['reused_tokens']}/{d['prefix']['prompt_tokens']} tokens reused")
    print(f"{'cancel_steps':<24} {result['cancel_steps']:>8.2f}  <= 1    "
          f"over the median step {d['cancel']['cancel_steps_over_median_step']:.2f}, steps started after cancel: "
          f"{d['cancel']['steps_started_after_cancel']}")
    print(f"{'sched_latency_ratio':<24} {result['sched_latency_ratio']:>8.2f}  <= 1.5  "
          f"idle {d['sched']['idle_latency_s']:.2f}s, during a long generation {d['sched']['busy_latency_s']:.2f}s")
    print(f"{'rss_growth_ratio':<24} {result['rss_growth_ratio']:>8.3f}  <= 1.05 "
          f"{d['rss']['rss_after_10_mb']:.0f} MB after 10, {d['rss']['rss_after_all_mb']:.0f} MB after "
          f"{d['rss']['requests']} requests")
    print(f"total {result['seconds']}s ({', '.join(f'{k} {v}s' for k, v in result['section_seconds'].items())})")
