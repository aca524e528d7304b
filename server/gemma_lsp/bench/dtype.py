"""`python -m gemma_lsp.bench dtype`: what bf16 weights cost in speed against fp32 on this machine.

The loader falls back to bf16 on a CPU when fp32 does not fit (models/loader.py); this measures the
price. The same random ~130M Gemma 4 target as the engine benchmark decodes greedily through the
engine's own decoder in fp32 and in bf16, alternating, several rounds; prefill and decoding are timed
apart and the ratio is bf16 time / fp32 time (above 1: bf16 is slower).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import torch

from gemma_lsp.bench.engine import VOCAB, build_pair
from gemma_lsp.engine.speculative import Decoder, Sequence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=32)


def _time(target: Any, prompt: list[int], new_tokens: int) -> tuple[float, float]:
    decoder = Decoder(target)
    seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
    start = time.perf_counter()
    decoder.prefill(seq, list(prompt), last=True)
    prefilled = time.perf_counter()
    while len(seq.generated) < new_tokens:
        decoder.step(seq, [])
    return prefilled - start, (time.perf_counter() - prefilled) / new_tokens


def run(args: argparse.Namespace) -> dict:
    rounds = 2 if args.quick else args.rounds
    rng = random.Random(0)
    prompt = [rng.randrange(3, VOCAB) for _ in range(args.prompt_tokens)]
    models = {name: build_pair("cpu", getattr(torch, name))[0] for name in ("float32", "bfloat16")}
    times: dict[str, dict[str, list[float]]] = {n: {"prefill": [], "decode": []} for n in models}
    for model in models.values():  # warm-up
        _time(model, prompt[:32], 2)
    for _ in range(rounds):
        for name, model in models.items():
            prefill, per_token = _time(model, prompt, args.new_tokens)
            times[name]["prefill"].append(prefill)
            times[name]["decode"].append(per_token)
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    result = {
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in models["float32"].parameters()),
        "fp32_decode_tok_s": 1 / med["float32"]["decode"],
        "bf16_decode_tok_s": 1 / med["bfloat16"]["decode"],
        "decode_ratio_bf16_over_fp32": med["bfloat16"]["decode"] / med["float32"]["decode"],
        "prefill_ratio_bf16_over_fp32": med["bfloat16"]["prefill"] / med["float32"]["prefill"],
    }
    print(f"{result['params'] / 1e6:.0f}M-parameter random Gemma 4 target, {result['threads']} thread(s), "
          f"{args.prompt_tokens}-token prompt, {args.new_tokens} tokens, median of {rounds} rounds")
    print("| dtype | decode tok/s | prefill s |")
    print("|---|---|---|")
    for name in models:
        print(f"| {name} | {1 / med[name]['decode']:.1f} | {med[name]['prefill']:.2f} |")
    print(f"bf16 time / fp32 time: decoding {result['decode_ratio_bf16_over_fp32']:.2f}, "
          f"prefill {result['prefill_ratio_bf16_over_fp32']:.2f}")
    return result
