"""The tool catalog: one declarative TOML file per tool, validated when loaded.

A tool file (the shipped ones live in the repository's `tools/`, installed as `gemma_lsp.catalog`):

    name = "run_tests"                       # [A-Za-z_][A-Za-z0-9_.-]*
    description = "Run the workspace's tests and summarise the failures."
    progress = "running tests…"              # optional: progress text, may use {argument} fields

    [parameters]                             # a JSON schema of type "object" (draft 2020-12)
    type = "object"
    additionalProperties = false
    [parameters.properties.target]
    type = "string"
    description = "A test file, folder or node id; omit to run everything."

    [run]                                    # exactly one of:
    builtin = "run_tests"                    #   a built-in (see toolbox.builtins.BUILTINS), or
    # command = ["python", "-m", "mypy", "{path}"]   an argument vector; "{arg}" fields are filled in
    timeout_seconds = 300                    # optional, at most the sandbox setting
    env = { RUFF_OUTPUT_FORMAT = "concise" } # optional, fixed values set inside the sandbox only

Command arguments: an element that is exactly "{name}" becomes the argument's value (a list expands
to several elements; an absent optional argument drops the element); "--x={name}" style elements are
filled in as text (dropped when the argument is absent). Nothing goes through a shell, and values that
start with "-" are refused so an argument cannot turn into an option.

`env` exists only inside the sandbox (bwrap --setenv), never in the host-side launcher. Names that
make a loader or interpreter run other code (LD_*, GCONV_PATH, PYTHON*, NODE_OPTIONS, BASH_ENV, ...:
see REFUSED_ENV) are refused when the catalog loads, whoever wrote the file.

Workspace tools: `<workspace>/.gemma/tools/*.toml`, same format. They cannot replace a shipped tool,
and their commands run in the same sandbox as every other command. A broken workspace tool is skipped
and reported in `ToolCatalog.problems`; a broken shipped tool is a bug and raises CatalogError.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from gemma_lsp.sandbox import hostfiles

WORKSPACE_TOOLS = Path(".gemma") / "tools"
TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_TOP_KEYS = {"name", "description", "progress", "parameters", "run"}
_RUN_KEYS = {"builtin", "command", "timeout_seconds", "env"}
SANDBOXED_BUILTINS = {"run_tests"}
MAX_TOOL_FILE_BYTES = 256_000
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Variables that make a dynamic loader, libc, a shell or an interpreter load code or change where it
# comes from. Exact names and prefixes (ending in "_" or "*"). The sandbox sets its own PATH and HOME.
REFUSED_ENV = (
    "LD_*", "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_*", "MALLOC_*",
    "PYTHON*", "PERL5LIB", "PERL5OPT", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS",
    "NODE_PATH", "BASH_ENV", "ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "CDPATH",
    "GIT_*", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "LUA_PATH*", "LUA_CPATH*",
    "PATH", "HOME", "TMPDIR", "GEMMA_LSP_*",
)
_CONTROL = re.compile(r"<\|[^<>\s]{1,24}>|<[^<>\s]{1,24}\|>")


class CatalogError(ValueError):
    """A tool file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    parameters: dict[str, Any]
    source: str  # file it came from
    origin: str  # "catalog" (shipped) or "workspace"
    builtin: str | None = None
    command: tuple[str, ...] | None = None
    timeout_seconds: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    progress: str | None = None

    @property
    def needs_sandbox(self) -> bool:
        """Whether running it starts a process in the sandbox (commands and run_tests)."""
        return self.command is not None or self.builtin in SANDBOXED_BUILTINS

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style declaration apply_chat_template(tools=...) takes."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}


def parse_tool(text: str, source: str, origin: str, builtins: set[str]) -> ToolDef:
    """Read and validate one tool file's text. Raises CatalogError naming `source`."""
    def fail(message: str) -> CatalogError:
        return CatalogError(f"{source}: {message}")

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise fail(f"not valid TOML: {error}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)} (allowed: {sorted(_TOP_KEYS)})")
    name, description = data.get("name"), data.get("description")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise fail(f"'name' must be an identifier like read_file, got {name!r}")
    if not isinstance(description, str) or not description.strip():
        raise fail("'description' must be a non-empty string")
    for label, value in (("description", description), ("progress", data.get("progress") or "")):
        if not isinstance(value, str) or _CONTROL.search(value) or '<|"|>' in value:
            raise fail(f"'{label}' must be plain text without Gemma control tokens")
    parameters = _check_parameters(data.get("parameters"), fail)
    run = data.get("run")
    if not isinstance(run, dict):
        raise fail("a [run] table is required (builtin = \"...\" or command = [...])")
    if set(run) - _RUN_KEYS:
        raise fail(f"unknown keys in [run]: {sorted(set(run) - _RUN_KEYS)}")
    builtin, command = run.get("builtin"), run.get("command")
    if (builtin is None) == (command is None):
        raise fail("[run] needs exactly one of 'builtin' and 'command'")
    if builtin is not None and builtin not in builtins:
        raise fail(f"unknown builtin {builtin!r} (known: {sorted(builtins)})")
    if command is not None:
        _check_command(command, parameters, fail)
    timeout = run.get("timeout_seconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or timeout <= 0):
        raise fail("'timeout_seconds' must be a positive number")
    env = run.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise fail("[run] env must map names to strings")
    for key, value in env.items():
        problem = env_problem(key, value)
        if problem:
            raise fail(problem)
    return ToolDef(name=name, description=description.strip(), parameters=parameters, source=source,
                   origin=origin, builtin=builtin, command=tuple(command) if command else None,
                   timeout_seconds=float(timeout) if timeout else None, env=dict(env),
                   progress=data.get("progress"))


def env_problem(name: str, value: str) -> str | None:
    """Why [run] env may not set `name`, or None when it may."""
    if not ENV_NAME.fullmatch(name):
        return f"[run] env name {name!r} is not a plain variable name"
    if "\0" in value:
        return f"[run] env {name} contains a NUL byte"
    for pattern in REFUSED_ENV:
        if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
            return (f"[run] env may not set {name}: it can make a loader or interpreter run other code "
                    f"(refused: {', '.join(REFUSED_ENV)})")
    return None


def _check_parameters(parameters: Any, fail) -> dict[str, Any]:
    if parameters is None:
        return {"type": "object", "properties": {}}
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        raise fail("[parameters] must be a JSON schema with type = \"object\"")
    try:
        jsonschema.Draft202012Validator.check_schema(parameters)
    except jsonschema.SchemaError as error:
        raise fail(f"[parameters] is not a valid JSON schema: {error.message}") from None
    properties = parameters.get("properties", {})
    for key in properties:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise fail(f"parameter name {key!r} must be an identifier")
    for key in parameters.get("required", []):
        if key not in properties:
            raise fail(f"required parameter {key!r} is not declared in properties")
    return parameters


def _check_command(command: Any, parameters: dict[str, Any], fail) -> None:
    if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
        raise fail("'command' must be a non-empty list of non-empty strings")
    declared = set(parameters.get("properties", {}))
    for index, element in enumerate(command):
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(element) if f is not None]
        except ValueError as error:
            raise fail(f"command element {element!r}: {error}") from None
        for name in fields:
            if name not in declared:
                raise fail(f"command element {element!r} uses {{{name}}}, which is not a parameter")
            if index == 0:
                raise fail("the program (first element of 'command') cannot come from an argument")


class ToolCatalog:
    """The tools the model may call: the shipped catalog plus the workspace's own."""

    def __init__(self, tools: list[ToolDef], problems: list[str] | None = None) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self.problems = list(problems or [])  # workspace tool files that were skipped, and why

    @classmethod
    def load(cls, workspace: Path | None = None) -> ToolCatalog:
        """Shipped tools, then `<workspace>/.gemma/tools/*.toml` (bad ones skipped into `problems`)."""
        from gemma_lsp.toolbox.builtins import BUILTINS

        known = set(BUILTINS)
        tools = [parse_tool(text, source, "catalog", known) for source, text in _shipped_files()]
        names = {t.name for t in tools}
        if len(names) != len(tools):
            raise CatalogError("two shipped tool files declare the same name")
        problems: list[str] = []
        root = Path(workspace or ".")
        for path in _workspace_tool_files(root) if workspace else []:
            try:
                data = hostfiles.read_bytes(root, path, MAX_TOOL_FILE_BYTES)
                tool = parse_tool(data.decode("utf-8"), str(path), "workspace", known)
            except (CatalogError, OSError, UnicodeDecodeError) as error:
                problems.append(f"{path}: {error}" if isinstance(error, UnicodeDecodeError) else str(error))
                continue
            if tool.name in names:
                problems.append(f"{path}: a tool named {tool.name!r} already exists; workspace tools "
                                "cannot replace it")
                continue
            names.add(tool.name)
            tools.append(tool)
        return cls(tools, problems)

    def get(self, name: str) -> ToolDef | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self, include_sandboxed: bool = True) -> list[dict[str, Any]]:
        """OpenAI-style declarations for apply_chat_template(tools=...), sorted by name.

        With include_sandboxed=False (the sandbox is unavailable and unsandboxed runs are not
        allowed), tools that would start a process are left out so the model is not offered them.
        """
        tools = [self._tools[name] for name in self.names()]
        return [t.spec() for t in tools if include_sandboxed or not t.needs_sandbox]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)


def _workspace_tool_files(workspace: Path) -> list[Path]:
    """The *.toml entries of .gemma/tools, if that folder really lies inside the workspace (a symlinked
    .gemma pointing elsewhere is not looked into). Each is opened later through sandbox.hostfiles."""
    folder = workspace / WORKSPACE_TOOLS
    real = Path(os.path.realpath(folder))
    if not hostfiles.inside(Path(os.path.realpath(workspace)), real) or not real.is_dir():
        return []
    try:
        names = sorted(entry.name for entry in os.scandir(real) if entry.name.endswith(".toml"))
    except OSError:
        return []
    return [folder / name for name in names]


def _shipped_files() -> list[tuple[str, str]]:
    """(source, text) of every shipped tool file: the installed package, else the source tree's tools/."""
    try:
        folder = resources.files("gemma_lsp.catalog")
        files = [f for f in folder.iterdir() if f.name.endswith(".toml")]
        if files:
            return [(f"gemma_lsp.catalog/{f.name}", f.read_text("utf-8"))
                    for f in sorted(files, key=lambda f: f.name)]
    except ModuleNotFoundError:
        pass
    # Running from a source checkout: server/gemma_lsp/toolbox/catalog.py -> <repo>/tools
    repo_tools = Path(__file__).resolve().parents[3] / "tools"
    return [(str(p), p.read_text("utf-8")) for p in sorted(repo_tools.glob("*.toml"))]
