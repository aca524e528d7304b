"""The built-in tools: read_file, list_files, search_text, run_tests.

Each takes the call's validated arguments and a ToolContext and returns (content, summary), or raises
ToolFailure with a message for the model. File tools never leave the workspace (symlinks resolved) and
never read the deny list's secrets; run_tests runs only inside the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pathspec

from gemma_lsp.sandbox import RunResult, SandboxUnavailable, hostfiles, run_sandboxed, run_trusted
from gemma_lsp.toolbox import testrunners
from gemma_lsp.toolbox.base import ToolContext, ToolFailure
from gemma_lsp.toolbox.paths import DenyList, GitIgnore, relative, resolve_in_workspace, walk

Outcome = tuple[dict[str, Any], str]
Builtin = Callable[[dict[str, Any], ToolContext], Awaitable[Outcome]]

FAILURE_HEAD = 6_000
FAILURE_TAIL = 6_000


# ------------------------------------------------------------------------------------------ read_file


def _read_file(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    path = resolve_in_workspace(ctx.workspace, args["path"])
    rel = relative(ctx.workspace, path)
    if DenyList(ctx.settings.deny).denies(rel):
        raise ToolFailure(f"{rel} looks like a secret (deny list: .env files, keys, credentials) and is "
                          "not read")
    if path.is_dir():
        raise ToolFailure(f"{rel} is a folder; use list_files")
    try:
        fd = hostfiles.open_regular(ctx.workspace, path)
    except FileNotFoundError:
        raise ToolFailure(f"{rel} does not exist") from None
    except hostfiles.UnsafeFile as error:
        raise ToolFailure(f"{rel} {error.reason}") from None
    with open(fd, "rb") as handle:
        size = os.fstat(fd).st_size
        data = handle.read(max(ctx.settings.max_read_bytes * 4, 1_000_000))
    if b"\0" in data[:8192]:
        raise ToolFailure(f"{rel} is a binary file ({size} bytes) and is not shown")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if len(data) < size:  # the cut may have split a character
            text = data.decode("utf-8", "ignore")
        else:
            raise ToolFailure(f"{rel} is not UTF-8 text and is not shown") from None
    lines = text.splitlines(keepends=True)
    total = len(lines) if len(data) >= size else None
    start = args.get("start_line", 1)
    end = args.get("end_line") or max(len(lines), start)
    if end < start:
        raise ToolFailure(f"end_line ({end}) is before start_line ({start})")
    if total is not None and start > max(total, 1):
        raise ToolFailure(f"{rel} has only {total} lines")
    chosen = "".join(lines[start - 1:end])
    content: dict[str, Any] = {"path": rel, "start_line": start}
    cap = ctx.settings.max_read_bytes
    if len(chosen.encode()) > cap:
        chosen = chosen.encode()[:cap].decode("utf-8", "ignore")
        chosen = chosen[: chosen.rfind("\n") + 1] or chosen
        shown = chosen.count("\n")
        content["note"] = (f"cut at {cap} bytes after line {start + shown - 1}; ask for start_line "
                           f"{start + shown} onwards to read more")
        end = start + shown - 1
    else:
        end = min(end, start - 1 + len(lines[start - 1:end]))
    content.update({"end_line": end, "total_lines": total, "content": chosen})
    if total is None:
        content.setdefault("note", f"file is {size} bytes; only the start was read")
    return content, f"read {rel}:{start}-{end}"


# ----------------------------------------------------------------------------------------- list_files


def _list_files(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    start = resolve_in_workspace(ctx.workspace, args.get("path") or ".")
    if not start.is_dir():
        raise ToolFailure(f"{args.get('path')} is not a folder of the workspace")
    glob = args.get("glob")
    spec = pathspec.PathSpec.from_lines("gitwildmatch", [glob]) if glob else None
    limit = ctx.settings.max_list_entries
    entries: list[str] = []
    truncated = False
    for rel, is_dir in walk(ctx.workspace, start):
        if spec and not spec.match_file(rel + ("/" if is_dir else "")):
            continue
        if len(entries) >= limit:
            truncated = True
            break
        entries.append(rel + ("/" if is_dir else ""))
    entries.sort()
    content: dict[str, Any] = {"path": relative(ctx.workspace, start), "entries": entries,
                               "count": len(entries), "truncated": truncated}
    if truncated:
        content["note"] = f"only the first {limit} entries; narrow with path or glob"
    return content, f"listed {len(entries)}{'+' if truncated else ''} entries"


# ---------------------------------------------------------------------------------------- search_text

_MATCHER = str(Path(__file__).with_name("matcher.py"))


MAX_SEARCH_FILES = 10_000  # names go to the matcher on its command line (ARG_MAX is ~2 MB)


def _search_files(args: dict[str, Any], ctx: ToolContext) -> tuple[Path, list[str]]:
    start = resolve_in_workspace(ctx.workspace, args.get("path") or ".")
    deny = DenyList(ctx.settings.deny)
    glob = args.get("glob")
    spec = pathspec.PathSpec.from_lines("gitwildmatch", [glob]) if glob else None
    if not start.is_dir():
        rel = relative(ctx.workspace, start)
        if not hostfiles.is_regular(ctx.workspace, start):
            raise ToolFailure(f"{rel} is not a regular file or folder of the workspace; not searched")
        if deny.denies(rel) or GitIgnore(ctx.workspace).ignored(rel, False):
            return start, []
        return start, [rel]
    files = []
    for rel, is_dir in walk(ctx.workspace, start):
        if is_dir or deny.denies(rel) or (spec and not spec.match_file(rel)):
            continue
        if not (ctx.workspace / rel).is_file() or (ctx.workspace / rel).is_symlink():
            # Links may point outside (the target is listed where it really lives); FIFOs and devices
            # would block or never end. The matcher checks again when it opens each file.
            continue
        files.append(rel)
        if len(files) >= MAX_SEARCH_FILES:
            break
    return start, files


async def search_text(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    import re

    try:
        re.compile(args["pattern"])
    except re.error as error:
        raise ToolFailure(f"invalid regular expression: {error}") from None
    start, files = await asyncio.to_thread(_search_files, args, ctx)
    limits = ctx.settings.limits(ctx.settings.search_timeout_seconds)
    limits.max_output_bytes = 4_000_000
    command = [sys.executable, _MATCHER, args["pattern"], "1" if args.get("ignore_case") else "0",
               str(ctx.settings.max_search_matches), str(ctx.workspace), *files]
    result = await run_trusted(command, Path("/"), limits, cancel=ctx.cancel, status=ctx.status)
    if result.cancelled:
        raise ToolFailure("cancelled")
    # The CPU-time limit equals the wall-clock one, so on a busy machine either may end the search first.
    out_of_cpu = result.exit_code in (-signal.SIGXCPU, 128 + signal.SIGXCPU)
    if result.timed_out or out_of_cpu:
        raise ToolFailure(f"the search took longer than {limits.timeout_seconds:g} s (a pattern that "
                          "backtracks too much?); try a simpler pattern or a narrower path")
    matches: list[dict[str, Any]] = []
    truncated = False
    for line in result.stdout.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if item.get("done"):
            truncated = bool(item.get("truncated"))
        else:
            matches.append(item)
    if result.exit_code not in (0, None) and not matches:
        raise ToolFailure(f"search failed: {result.stderr.strip()[-500:]}")
    content = {"pattern": args["pattern"], "path": relative(ctx.workspace, start), "matches": matches,
               "count": len(matches), "files_searched": len(files), "truncated": truncated}
    if len(files) >= MAX_SEARCH_FILES:
        content["note"] = f"only the first {MAX_SEARCH_FILES} files were searched; narrow with path or glob"
    return content, f"{len(matches)}{'+' if truncated else ''} matches for {args['pattern']!r}"


# ------------------------------------------------------------------------------------------ run_tests


async def run_tool_command(argv: list[str], ctx: ToolContext, timeout_seconds: float | None, *, unavailable: str,
                           env: dict[str, str] | None = None) -> RunResult:
    """Run a tool's command in the sandbox with the user's limits; a run that did not happen (no sandbox,
    cancelled, the sandbox failed to start) is a ToolFailure the model reads. `unavailable` words the
    first, with `{error}` the sandbox's reason."""
    try:
        result = await run_sandboxed(
            argv, ctx.workspace, ctx.settings.limits(timeout_seconds), cancel=ctx.cancel, env=env,
            extra_ro_paths=ctx.settings.extra_ro_paths, allow_unsandboxed=ctx.settings.allow_unsandboxed,
            status=ctx.status,
        )
    except SandboxUnavailable as error:
        raise ToolFailure(unavailable.format(error=error)) from None
    if result.cancelled:
        raise ToolFailure("cancelled")
    if result.sandbox_error:
        raise ToolFailure(f"the sandbox could not start: {result.sandbox_error}")
    return result


async def run_tests(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    target = args.get("target") or None
    if target and (target.startswith("-") or "\0" in target):
        raise ToolFailure("target must be a test file, folder or id, not an option")
    runner = await asyncio.to_thread(testrunners.detect, ctx.workspace, ctx.settings.tests_command, target)
    if runner is None:
        raise ToolFailure("no tests found: no pytest/unittest files, package.json, go.mod or Cargo.toml; "
                          "set tests.command to say how this workspace runs its tests")
    result = await run_tool_command(runner.command, ctx, ctx.timeout_seconds,
                                    unavailable="tests cannot run: the sandbox is unavailable ({error})")
    output = result.stdout + ("\n" + result.stderr if result.stderr.strip() else "")
    counts = testrunners.parse_counts(runner.name, output)
    content: dict[str, Any] = {
        "runner": runner.name, "command": runner.command, "exit_code": result.exit_code,
        "passed": counts.passed, "failed": counts.failed, "errors": counts.errors,
        "skipped": counts.skipped, "duration_seconds": result.duration_seconds,
        "sandboxed": result.sandboxed,
    }
    if result.timed_out:
        content["timed_out"] = True
    if result.killed_reason:
        content["killed"] = result.killed_reason
    if not counts.found:
        content["note"] = "could not read the test counts from the output"
    bad = counts.failed or counts.errors or result.exit_code not in (0, None) or result.timed_out
    if bad:
        content["output"] = _head_tail(output, FAILURE_HEAD, FAILURE_TAIL)
    return content, _tests_summary(counts, result.timed_out, result.exit_code)


def _head_tail(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


def _tests_summary(counts: testrunners.Counts, timed_out: bool, exit_code: int | None) -> str:
    if timed_out:
        return "tests timed out"
    if not counts.found:
        return f"tests finished with exit code {exit_code}"
    parts = [f"{n} {word}" for n, word in ((counts.failed, "failed"), (counts.errors, "errors"),
                                            (counts.passed, "passed"), (counts.skipped, "skipped")) if n]
    return "tests: " + (", ".join(parts) or "none ran")


# ---------------------------------------------------------------------------------------------- table


async def read_file(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    return await asyncio.to_thread(_read_file, args, ctx)


async def list_files(args: dict[str, Any], ctx: ToolContext) -> Outcome:
    return await asyncio.to_thread(_list_files, args, ctx)


BUILTINS: dict[str, Builtin] = {
    "read_file": read_file,
    "list_files": list_files,
    "search_text": search_text,
    "run_tests": run_tests,
}
