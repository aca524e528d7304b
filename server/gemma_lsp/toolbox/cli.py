"""`gemma-lsp tool NAME --workspace DIR --args JSON`: run one tool exactly as a model call would.

Prints the ToolResult as JSON on stdout. Exit status: 0 when the tool succeeded, 1 when it returned an
error, 2 for bad command-line input. `gemma-lsp tool --list` prints the catalog's declarations and
`gemma-lsp tool --status` the sandbox's state.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from gemma_lsp.gemma4.codec import ToolCall
from gemma_lsp.sandbox import sandbox_status
from gemma_lsp.toolbox.base import ToolSettings
from gemma_lsp.toolbox.catalog import CatalogError, ToolCatalog
from gemma_lsp.toolbox.executor import ToolExecutor


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gemma-lsp tool", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="tool to run (see --list)")
    parser.add_argument("--workspace", default=".", help="workspace root (default: the current folder)")
    parser.add_argument("--args", default="{}", help="the call's arguments as a JSON object")
    parser.add_argument("--timeout", type=float, help="wall-clock limit in seconds for commands")
    parser.add_argument("--memory-mb", type=int, help="memory limit for commands")
    parser.add_argument("--tests-command", help="override how run_tests runs the tests (JSON list)")
    parser.add_argument("--ro-path", action="append", default=[], metavar="DIR",
                        help="also mount DIR read-only in the sandbox (e.g. the Python installation a "
                             "workspace .venv links to); repeatable; / and the home folder are refused")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="run commands without the sandbox if it cannot work here (logged)")
    parser.add_argument("--list", action="store_true", help="print the tool declarations and exit")
    parser.add_argument("--status", action="store_true", help="print the sandbox status and exit")
    return parser


def _print(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    opts = parser.parse_args(argv)
    workspace = Path(opts.workspace)
    if not workspace.is_dir():
        _print({"ok": False, "error": f"workspace {opts.workspace!r} is not a folder"})
        return 2
    try:
        catalog = ToolCatalog.load(workspace)
    except CatalogError as error:
        _print({"ok": False, "error": str(error)})
        return 2
    if opts.status:
        _print(dataclasses.asdict(sandbox_status()))
        return 0
    if opts.list:
        _print({"tools": catalog.specs(), "problems": catalog.problems})
        return 0
    if not opts.name:
        parser.print_usage(sys.stderr)
        return 2
    try:
        arguments = json.loads(opts.args)
        tests_command = json.loads(opts.tests_command) if opts.tests_command else None
    except json.JSONDecodeError as error:
        _print({"ok": False, "error": f"--args is not valid JSON: {error}"})
        return 2
    settings = ToolSettings(allow_unsandboxed=opts.allow_unsandboxed, tests_command=tests_command,
                            extra_ro_paths=list(opts.ro_path))
    if opts.timeout:
        settings.timeout_seconds = opts.timeout
    if opts.memory_mb:
        settings.memory_mb = opts.memory_mb
    executor = ToolExecutor(catalog, workspace, settings)
    call = ToolCall(opts.name, arguments if isinstance(arguments, dict) else {"": arguments})
    result = asyncio.run(executor.execute(call))
    output = result.to_dict()
    if catalog.get(opts.name) is None and catalog.problems:
        output["problems"] = catalog.problems  # e.g. the workspace tool of that name was refused
    _print(output)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
