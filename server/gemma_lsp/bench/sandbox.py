"""Sandbox start-up overhead: a no-op command inside the sandbox against the same outside it.

    python -m gemma_lsp.bench sandbox [--quick] [--repeats 30] [--json bench-sandbox.json]

Both sides go through the same asyncio subprocess path, interleaved so machine noise hits both alike;
the figure of merit is the median difference (target: at most 50 ms here). "Outside" is a bare start
(run_trusted without its group guard), so the figure is the sandbox's whole cost over a plain process;
`guarded_outside` is what our own helpers (search_text's matcher) pay for dying with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gemma_lsp.sandbox import SandboxLimits, run_sandboxed, run_trusted, sandbox_status

NOOP = ["/bin/true"]


async def _time(coro_factory) -> float:
    start = time.perf_counter()
    await coro_factory()
    return (time.perf_counter() - start) * 1000


async def _measure(repeats: int, workspace: Path) -> dict[str, list[float]]:
    limits = SandboxLimits(timeout_seconds=30)
    status = sandbox_status()
    samples: dict[str, list[float]] = {"outside": [], "sandbox": [], "python_outside": [], "python_sandbox": [],
                                       "guarded_outside": []}
    python = [sys.executable, "-c", "pass"]
    for _ in range(2):  # warm caches (binaries, page cache) before measuring
        await run_sandboxed(NOOP, workspace, limits, status=status)
        await run_trusted(NOOP, workspace, limits, status=status)
    for _ in range(repeats):
        samples["outside"].append(
            await _time(lambda: run_trusted(NOOP, workspace, limits, status=status, guarded=False)))
        samples["guarded_outside"].append(
            await _time(lambda: run_trusted(NOOP, workspace, limits, status=status)))
        samples["sandbox"].append(await _time(lambda: run_sandboxed(NOOP, workspace, limits, status=status)))
        samples["python_outside"].append(
            await _time(lambda: run_trusted(python, workspace, limits, status=status, guarded=False)))
        samples["python_sandbox"].append(
            await _time(lambda: run_sandboxed(python, workspace, limits, status=status)))
    return samples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each kind (30; --quick 5)")


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Measure, print and return the figures."""
    repeats = getattr(args, "repeats", None) or (5 if getattr(args, "quick", False) else 30)
    status = sandbox_status()
    if not status.available:
        result: dict[str, Any] = {"available": False, "reason": status.reason}
    else:
        with tempfile.TemporaryDirectory(prefix="gemma-lsp-bench-") as folder:
            ws = Path(folder)
            (ws / "file.txt").write_text("x\n")
            samples = asyncio.run(_measure(repeats, ws))
        med = {k: statistics.median(v) for k, v in samples.items()}
        result = {
            "available": True,
            "repeats": repeats,
            "seccomp": status.seccomp,
            "process_limit": status.process_limit,
            "noop_outside_ms_median": round(med["outside"], 2),
            "noop_sandbox_ms_median": round(med["sandbox"], 2),
            "noop_guarded_outside_ms_median": round(med["guarded_outside"], 2),
            "sandbox_overhead_ms_median": round(med["sandbox"] - med["outside"], 2),
            "sandbox_overhead_ms_p90": round(_p90([s - o for s, o in zip(samples["sandbox"], samples["outside"],
                                                                        strict=True)]), 2),
            "noop_sandbox_over_outside_ratio": round(med["sandbox"] / med["outside"], 2) if med["outside"] else None,
            "python_outside_ms_median": round(med["python_outside"], 2),
            "python_sandbox_ms_median": round(med["python_sandbox"], 2),
            "python_overhead_ms_median": round(med["python_sandbox"] - med["python_outside"], 2),
            "target_overhead_ms": 50,
        }
        result["meets_target"] = result["sandbox_overhead_ms_median"] <= 50
    print(json.dumps(result, indent=2))
    return result


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


if __name__ == "__main__":
    from gemma_lsp.bench.__main__ import main

    raise SystemExit(main(["sandbox", *sys.argv[1:]]))
