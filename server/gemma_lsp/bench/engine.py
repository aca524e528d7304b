"""`python -m gemma_lsp.bench engine`: how close the local engine gets to what the hardware allows.

Everything is a ratio measured within one run (these machines are shared and noisy):

- spec[]: a random Gemma 4 target of ~130M parameters (one target step dominates) with a synthetic
  drafter that runs the real Gemma 4 assistant step (so it costs what a drafter costs) and then
  replaces each drafted token by the target's true greedy token with probability alpha, else a wrong
  one. Per alpha and draft length: accepted drafts per target step, measured speedup over plain greedy
  through the same code path, and the ideal speedup a loop without overhead would reach given alpha,
  k and the measured step costs.
- prefix_ttft_ratio: time to first token after a one-token edit 30 tokens before the end of a
  2,000-token prompt, with the prompt cache warm, over cold.
- cancel_steps: time from cancel() to the worker dropping the job, in decoding steps.
- sched_latency_ratio: an inline completion's latency while a long background generation runs, over
  its latency on an idle engine.
- rss_growth_ratio: resident memory after 1,000 mixed requests (tiny model) over after the first 10.
"""

from __future__ import annotations

import argparse
import copy
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

from gemma_lsp.engine.base import Priority
from gemma_lsp.engine.drafting import AdaptiveDraftLength, DraftPolicy
from gemma_lsp.engine.scheduler import DecodeParams, Scheduler, SchedulerConfig
from gemma_lsp.engine.speculative import Decoder, Sequence

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


class SyntheticDrafter(Decoder):
    """Runs the real drafter (its cost), then proposes the true greedy token with probability alpha."""

    def __init__(self, target: Any, drafter: Any, truth: list[int], alpha: float, seed: int = 0) -> None:
        super().__init__(target, drafter)
        self.truth, self.alpha, self.rng = truth, alpha, random.Random(seed)

    def draft(self, seq: Sequence, k: int) -> list[int]:
        drafted = super().draft(seq, k)
        start = len(seq.generated)
        out = []
        for i in range(len(drafted)):
            right = self.truth[start + i] if start + i < len(self.truth) else 0
            out.append(right if self.rng.random() < self.alpha else (right + 1) % VOCAB)
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
            policy.update(step.drafted, step.accepted)
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


def expected_tokens(alpha: float, k: int) -> float:
    """Tokens per target step with k drafts each accepted with prob alpha: 1 + alpha + ... + alpha^k."""
    return float(sum(alpha**i for i in range(k + 1)))


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


def _rejections(runs: list[dict[str, float]]) -> float:
    return sum(r["rejections"] for r in runs)


def bench_spec(target: Any, drafter: Any, quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each speculative run advances in lockstep with a plain greedy run of the same prompt (one step of
    each in turn), so both see the same load; a speedup is plain seconds over speculative seconds,
    summed over the repeats."""
    rng = random.Random(1)
    prompt = [2] + [rng.randrange(16, VOCAB) for _ in range(63)]
    n = 32 if quick else 48
    alphas = (0.0, 0.8, 1.0) if quick else ALPHAS
    fixed_ks = [4] if quick else [4, 8]
    repeats = 1 if quick else 2
    plain = Decoder(target)
    seq = _prefilled(plain, prompt)
    while len(seq.generated) < n + 16:
        plain.step(seq, [])
    truth = seq.generated
    lockstep(decoding(plain, prompt, 8, None, {}))  # warm-up
    rows: list[dict[str, Any]] = []
    plain_steps: list[float] = []
    draft_steps: list[float] = []
    verify_points: dict[int, list[float]] = {}  # k -> verify seconds over plain step seconds
    for alpha in alphas:
        warmed: AdaptiveDraftLength | None = None
        for k in [*map(str, fixed_ks), "adaptive"]:
            bases, runs = [], []
            for r in range(repeats):
                synthetic = SyntheticDrafter(target, drafter, truth, alpha, seed=r)
                if k == "adaptive":
                    # As the scheduler does, start from the schedule a previous request left behind.
                    if warmed is None:
                        warmed = AdaptiveDraftLength(k=4, max_k=8)
                        lockstep(decoding(synthetic, prompt, n, DraftPolicy(decoder=synthetic, length=warmed), {}))
                    length = copy.deepcopy(warmed)
                else:
                    length = AdaptiveDraftLength(k=int(k), max_k=int(k), adaptive=False)
                base: dict[str, float] = {}
                run: dict[str, float] = {}
                lockstep(decoding(plain, prompt, n, None, base),
                         decoding(synthetic, prompt, n, DraftPolicy(decoder=synthetic, length=length), run))
                bases.append(base)
                runs.append(run)
            base = {key: sum(b[key] for b in bases) for key in bases[0]}
            run = {key: sum(r[key] for r in runs) for key in runs[0]}
            t1 = base["seconds"] / base["steps"]
            plain_steps.append(t1)
            if run["drafted"]:
                draft_steps.append(run["draft_s"] / run["drafted"] / t1)
            verify = run["verify_s"] / run["steps"] / t1
            if k != "adaptive":
                verify_points.setdefault(int(k), []).append(verify)
            model = _CostModel(statistics.median(draft_steps) if draft_steps else 0.0, verify_points)
            if k == "adaptive":
                ideal = max(model.ideal(alpha, kk) for kk in range(0, 9))  # the best fixed k, 0 included
            else:
                ideal = model.ideal(alpha, int(k))
            # The same ideal for the acceptance this run actually drew (removes sampling noise, leaving
            # the loop's own overhead): per-token rate from accepted prefixes and the rejections.
            rejections = _rejections(runs)
            observed = run["accepted"] / (run["accepted"] + rejections) if run["drafted"] else 0.0
            speedup = base["seconds"] / run["seconds"]
            tokens_per_step = run["tokens"] / run["steps"]
            loop_ideal = tokens_per_step / (run["draft_s"] / run["steps"] / t1 + verify)
            rows.append(dict(alpha=alpha, draft_tokens=k if k == "adaptive" else int(k),
                             accepted_per_step=round(run["accepted"] / run["steps"], 3),
                             mean_draft_length=round(run["drafted"] / run["steps"], 2),
                             observed_alpha=round(observed, 3),
                             speedup=round(speedup, 3), ideal_speedup=round(ideal, 3),
                             efficiency=round(speedup / ideal, 3),
                             loop_efficiency=round(speedup / loop_ideal, 3),
                             verify_cost=round(verify, 3)))
    costs = dict(plain_step_s=statistics.median(plain_steps), tokens=n,
                 drafter_step_cost=statistics.median(draft_steps) if draft_steps else 0.0,
                 verify_cost={k: round(statistics.median(v), 3) for k, v in sorted(verify_points.items())})
    return rows, costs


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

    with torch.inference_mode():
        spec, costs = timed("spec", bench_spec, target, drafter, quick)
    _print_spec(spec, costs)
    prefix = timed("prefix", bench_prefix, target, drafter, quick)
    cancel = timed("cancel", bench_cancel, target, drafter, quick)
    sched = timed("sched", bench_sched, target, drafter, quick)
    del target, drafter
    gc.collect()
    rss = timed("rss", bench_rss, quick)
    result = dict(
        spec=spec,
        prefix_ttft_ratio=round(prefix["prefix_ttft_ratio"], 4),
        cancel_steps=round(cancel["cancel_steps"], 3),
        sched_latency_ratio=round(sched["sched_latency_ratio"], 3),
        rss_growth_ratio=round(rss["rss_growth_ratio"], 4),
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
    print(f"\n{'alpha':>6} {'k':>9} {'mean k':>7} {'acc/step':>9} {'alpha^':>7} {'speedup':>8} {'ideal':>7} "
          f"{'effic.':>7} {'loop':>6}")
    for r in rows:
        print(f"{r['alpha']:>6} {r['draft_tokens']!s:>9} {r['mean_draft_length']:>7.2f} "
              f"{r['accepted_per_step']:>9.2f} {r['observed_alpha']:>7.2f} {r['speedup']:>8.2f} "
              f"{r['ideal_speedup']:>7.2f} {r['efficiency']:>7.2f} {r['loop_efficiency']:>6.2f}")
    print("ideal: a zero-overhead loop at this alpha with the measured drafter and verify costs (adaptive: the "
          "best fixed k, 0 included); effic. = speedup / ideal; alpha^: acceptance the run actually drew; "
          "loop: speedup over a zero-overhead loop with the acceptance drawn (the loop's own overhead)")


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
