"""`python -m gemma_lsp.bench NAME [--quick] [--json PATH] [options]`: run one benchmark.

Each benchmark is a module `gemma_lsp.bench.NAME` exposing `run(args) -> dict` (it prints its own
table) and optionally `add_arguments(parser)` for its own options. Modules are imported only when
chosen, so one benchmark's missing dependency never breaks another. The dict is written as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = {
    "engine": "speculative decoding, prefix reuse, cancellation, scheduling and memory of the local engine",
    "context": "prompt context building",
    "sandbox": "sandboxed tool runs",
    "soak": "the server under a long mixed load",
    "dtype": "the speed cost of bf16 weights against fp32 on this machine's CPU",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m gemma_lsp.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, help_text in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
        p.add_argument("--json", type=Path, default=None, help=f"where to write the results (bench-{name}.json)")
        if argv and argv[0] == name:  # only the chosen module is imported
            module = _load(name)
            if module is not None and hasattr(module, "add_arguments"):
                module.add_arguments(p)
    args = parser.parse_args(argv)
    module = _load(args.name)
    if module is None:
        print(f"benchmark {args.name!r} is not available in this build", file=sys.stderr)
        return 2
    result = module.run(args)
    path = args.json or Path(f"bench-{args.name}.json")
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return 0


def _load(name: str):
    try:
        return importlib.import_module(f"gemma_lsp.bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"gemma_lsp.bench.{name}":
            return None
        raise


if __name__ == "__main__":
    raise SystemExit(main())
