"""`python -m gemma_lsp.bench NAME [--quick] [--json PATH] [options]`: run one benchmark.

One way to declare a benchmark: a module `gemma_lsp.bench.NAME` exposing

    add_arguments(parser)   its own options (every benchmark also gets --quick and --json here)
    run(args) -> dict       measures, prints its own table, returns the figures
    exit_code(result) -> int   optional: non-zero when the figures show a failure (the soak's health)

This file owns the command line, reading options and writing the JSON (`--json`, default
bench-NAME.json); a module never parses arguments itself. `parse_args` builds the same parser for
tests and for `python -m gemma_lsp.bench.NAME`. Modules are imported only when chosen, so one
benchmark's missing dependency (torch for `engine`) never breaks another.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = {
    "engine": "speculative decoding, prefix reuse, cancellation, scheduling and memory of the local engine",
    "context": "prompt context building",
    "sandbox": "sandboxed tool runs",
    "soak": "the server under a long mixed load",
    "dtype": "the speed cost of bf16 weights against fp32 on this machine's CPU",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options of `python -m gemma_lsp.bench ARGV...`; exits with a usage message on bad input."""
    parser = argparse.ArgumentParser(prog="python -m gemma_lsp.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, help_text in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--quick", action="store_true", help="a smoke run of about a minute or less")
        p.add_argument("--json", type=Path, default=None, help=f"where to write the results (bench-{name}.json)")
        if argv and argv[0] == name:  # only the chosen module is imported
            module = _load(name)
            if module is not None:
                module.add_arguments(p)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    module = _load(args.name)
    if module is None:
        print(f"benchmark {args.name!r} is not available in this build", file=sys.stderr)
        return 2
    result = module.run(args)
    path = args.json or Path(f"bench-{args.name}.json")
    if path.parent != Path("."):
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return module.exit_code(result) if hasattr(module, "exit_code") else 0


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"gemma_lsp.bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"gemma_lsp.bench.{name}":
            return None
        raise


if __name__ == "__main__":
    raise SystemExit(main())
