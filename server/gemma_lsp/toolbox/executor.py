"""Run one tool call exactly as the model asked, and always come back with a ToolResult.

`ToolExecutor.execute` validates the arguments against the tool's JSON schema, runs the built-in or
the sandboxed command, and turns every failure (unknown tool, bad arguments, sandbox unavailable,
timeout, a bug in a tool) into `ToolResult(ok=False, error=...)` — a message the model can act on.
Results are defanged (see gemma4.codec.defang) so tool output cannot forge prompt structure.
"""

from __future__ import annotations

import logging
import re
import string
from pathlib import Path
from typing import Any

import jsonschema

from gemma_lsp.gemma4.codec import ToolCall, defang
from gemma_lsp.sandbox import SandboxStatus, sandbox_status
from gemma_lsp.toolbox.base import ToolContext, ToolFailure, ToolResult, ToolSettings
from gemma_lsp.toolbox.builtins import BUILTINS, run_tool_command
from gemma_lsp.toolbox.catalog import ToolCatalog, ToolDef

log = logging.getLogger(__name__)


class ToolExecutor:
    """Runs calls against one workspace with one catalog and one set of settings."""

    def __init__(self, catalog: ToolCatalog, workspace: Path, settings: ToolSettings | None = None, *,
                 status: SandboxStatus | None = None) -> None:
        self.catalog = catalog
        self.workspace = Path(workspace).resolve()
        self.settings = settings or ToolSettings()
        self._status = status

    @property
    def status(self) -> SandboxStatus:
        if self._status is None:
            self._status = sandbox_status()
        return self._status

    async def execute(self, call: ToolCall, cancel: Any = None) -> ToolResult:
        """Run `call`. Never raises (except asyncio.CancelledError when the awaiting task is cancelled,
        after the sandboxed process tree is killed)."""
        tool = self.catalog.get(call.name)
        if tool is None:
            return _failed(call, f"unknown tool {call.name!r}; available tools: "
                                 f"{', '.join(self.catalog.names())}")
        problem = validate_arguments(tool, call.arguments)
        if problem:
            return _failed(call, problem)
        ctx = ToolContext(self.workspace, self.settings, self.status, cancel, tool.timeout_seconds)
        try:
            if tool.builtin:
                content, summary = await BUILTINS[tool.builtin](dict(call.arguments), ctx)
            else:
                content, summary = await self._run_command(tool, call.arguments, ctx)
        except ToolFailure as failure:
            return _failed(call, str(failure))
        except Exception as error:  # a bug in a tool must not take the session down
            log.exception("tool %s failed", call.name)
            return _failed(call, f"internal error in {call.name}: {type(error).__name__}: {error}")
        return ToolResult(ok=True, content=defang(content), error=None, summary=summary)

    async def _run_command(self, tool: ToolDef, arguments: dict[str, Any], ctx: ToolContext
                           ) -> tuple[dict[str, Any], str]:
        argv = render_command(tool, arguments)
        try:
            result = await run_tool_command(argv, ctx, tool.timeout_seconds, env=tool.env,
                                            unavailable="command tools are disabled: {error}")
        except FileNotFoundError as error:
            raise ToolFailure(f"cannot start {argv[0]}: {error}") from None
        content: dict[str, Any] = {"command": argv, "exit_code": result.exit_code, "stdout": result.stdout,
                                   "stderr": result.stderr, "sandboxed": result.sandboxed}
        if result.killed_reason:
            content["killed"] = result.killed_reason
        if result.output_truncated:
            content["output_truncated"] = True
        if result.timed_out:
            return content, f"{tool.name} timed out"
        return content, f"{tool.name} exited with {result.exit_code}"


def validate_arguments(tool: ToolDef, arguments: Any) -> str | None:
    """None when `arguments` fit the tool's schema, else every problem in one message for the model."""
    if not isinstance(arguments, dict):
        return f"arguments of {tool.name} must be an object"
    validator = jsonschema.Draft202012Validator(tool.parameters)
    problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not problems:
        return None
    lines = []
    for problem in problems[:5]:
        where = ".".join(str(p) for p in problem.absolute_path)
        lines.append(f"{where}: {problem.message}" if where else problem.message)
    properties = ", ".join(sorted(tool.parameters.get("properties", {}))) or "none"
    return f"invalid arguments for {tool.name}: " + "; ".join(lines) + f" (parameters: {properties})"


def render_command(tool: ToolDef, arguments: dict[str, Any]) -> list[str]:
    """The argument vector for a command tool (see catalog's module docstring for the rules)."""
    argv: list[str] = []
    formatter = string.Formatter()
    for element in tool.command or ():
        fields = [f for _, f, _, _ in formatter.parse(element) if f]
        if not fields:
            argv.append(element)
            continue
        if any(arguments.get(f) is None for f in fields):
            continue  # an absent optional argument drops its element
        if element == "{" + fields[0] + "}":
            value = arguments[fields[0]]
            values = value if isinstance(value, list) else [value]
            for item in values:
                text = _text(item)
                if text.startswith("-"):
                    raise ToolFailure(f"argument {fields[0]!r} may not start with '-' ({text!r})")
                argv.append(text)
        else:
            argv.append(element.format(**{f: _text(arguments[f]) for f in fields}))
    return argv


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "\0" in text:
        raise ToolFailure("arguments may not contain NUL bytes")
    return text


def _failed(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(ok=False, content={}, error=defang(message), summary=f"{call.name} failed: {message}"[:200])


def describe_call(call: ToolCall, catalog: ToolCatalog | None = None) -> str:
    """Progress text for a call about to run, from the tool's `progress` in the catalog ("running
    tests…", "reading src/app.py:40-80"); "running NAME…" for a tool without one."""
    tool = catalog.get(call.name) if catalog else None
    if tool and tool.progress:
        return progress_text(tool.progress, call.arguments if isinstance(call.arguments, dict) else {})
    return f"running {call.name}…"


PROGRESS_VALUE_CHARS = 60
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def progress_text(template: str, arguments: dict[str, Any]) -> str:
    """Fill a catalog `progress` template: `{name}` is the argument's value (cut to 60 characters, "…"
    when absent), and a `[...]` part that names arguments is shown only when every one was given."""
    values = {name: _one_line(value) for name, value in arguments.items() if value not in (None, "")}

    def optional(match: re.Match[str]) -> str:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(match[1]) if name]
        except ValueError:
            names = []
        if not names:
            return match[0]  # names no argument: plain text in brackets, kept as written
        return match[1] if all(name in values for name in names) else ""

    try:
        return _OPTIONAL.sub(optional, template).format_map(_Missing(values))
    except (ValueError, IndexError, AttributeError):
        return template


def _one_line(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= PROGRESS_VALUE_CHARS else text[:PROGRESS_VALUE_CHARS - 1] + "…"


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "…"
