"""Settings: defined once here, read from initializationOptions, didChangeConfiguration and the CLI.

Every field has a default. Invalid values never crash the server: `Settings.from_lsp` returns the
settings with the defaults kept for the bad fields, plus a list of messages to show the user.
Editors mirror this schema (editors/vscode/package.json, editors/neovim/lua/gemma/config.lua).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRESETS = ("auto", "tiny", "31b", "26b", "e4b", "e2b")
DEVICES = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class RemoteSettings:
    url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None
    api_key_env: str = "GEMMA_LSP_API_KEY"
    timeout_seconds: float = 60.0


@dataclass
class CompletionSettings:
    enabled: bool = True


@dataclass
class DebugSettings:
    max_tool_calls: int = 12
    max_tokens: int = 4096
    max_seconds: int = 300
    thinking: bool = False
    show_thoughts: bool = False


@dataclass
class SandboxSettings:
    timeout_seconds: int = 120
    memory_mb: int = 2048
    # Running tools outside the sandbox: only with the command-line flag --allow-unsandboxed, never
    # from editor settings (a workspace could set those); logged on every run.
    allow_unsandboxed: bool = False


@dataclass
class TestsSettings:
    command: list[str] | None = None


@dataclass
class Settings:
    model: str = "auto"
    drafter_model: str | None = None
    engine: str = "local"  # "local" | "remote"
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    device: str = "auto"
    dtype: str = "auto"
    drafter: bool = True
    draft_tokens: int = 4
    adaptive_draft: bool = True
    max_new_tokens: int = 128
    max_context_tokens: int = 4096
    kv_cache_budget_mb: int = 1024
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    debug: DebugSettings = field(default_factory=DebugSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    tests: TestsSettings = field(default_factory=TestsSettings)
    log_file: str | None = None
    client_renders_explanations: bool = False
    # Not an editor setting: `--script FILE` on the command line (tests and demos).
    script: str | None = None

    def model_key(self) -> tuple:
        """The settings that require reloading the engine when they change."""
        return (self.engine, self.model, self.drafter_model, self.device, self.dtype, self.drafter,
                self.remote.url, self.remote.model, self.script)

    @classmethod
    def from_lsp(cls, options: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
        """Apply an LSP settings object (camelCase, `{"gemma": {...}}` or bare) over `base`.

        Returns the new settings and a list of problems (unknown keys, bad values); a bad value keeps
        the previous value.
        """
        settings = dataclasses.replace(base) if base else cls()
        settings = _deep_copy(settings)
        problems: list[str] = []
        if options is None:
            return settings, problems
        if not isinstance(options, dict):
            return settings, [f"settings must be an object, got {type(options).__name__}"]
        if "gemma" in options and isinstance(options["gemma"], dict):
            options = options["gemma"]
        _apply(settings, options, "", problems)
        return settings, problems


def _deep_copy(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        remote=dataclasses.replace(settings.remote),
        completion=dataclasses.replace(settings.completion),
        debug=dataclasses.replace(settings.debug),
        sandbox=dataclasses.replace(settings.sandbox),
        tests=dataclasses.replace(settings.tests),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


# Validators per dotted snake_case path: return an error message or None.
def _in(choices: tuple[str, ...]):
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _int_range(lo: int, hi: int):
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


def _model(value: str) -> str | None:
    if value.lower() in PRESETS:
        return None
    path = Path(os.path.expanduser(value))
    if path.is_dir() or "/" in value or value.startswith("."):
        return None  # a local folder (checked again, with a clearer message, when loading)
    return f"must be a preset ({', '.join(PRESETS)}) or a local model folder"


_VALIDATORS = {
    "model": _model,
    "engine": _in(("local", "remote")),
    "device": lambda v: None if DEVICES.match(v) else "must be auto, cpu, cuda, cuda:N or mps",
    "dtype": _in(DTYPES),
    "draft_tokens": _int_range(1, 16),
    "max_new_tokens": _int_range(1, 8192),
    "max_context_tokens": _int_range(256, 262144),
    "kv_cache_budget_mb": _int_range(0, 1 << 20),
    "debug.max_tool_calls": _int_range(0, 200),
    "debug.max_tokens": _int_range(16, 1 << 20),
    "debug.max_seconds": _int_range(1, 86400),
    "sandbox.timeout_seconds": _int_range(1, 86400),
    "sandbox.memory_mb": _int_range(64, 1 << 20),
    "remote.timeout_seconds": lambda v: None if v > 0 else "must be positive",
}

_NOT_FROM_EDITOR = {"script", "sandbox.allow_unsandboxed"}


def _apply(target: Any, options: dict, prefix: str, problems: list[str]) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in options.items():
        name = _snake(key)
        path = f"{prefix}{name}"
        shown = ".".join(_camel(part) for part in path.split("."))
        if name not in fields or path in _NOT_FROM_EDITOR:
            problems.append(f"gemma.{shown}: unknown setting (ignored)")
            continue
        current = getattr(target, name)
        if dataclasses.is_dataclass(current):
            if isinstance(value, dict):
                _apply(current, value, f"{path}.", problems)
            else:
                problems.append(f"gemma.{shown}: must be an object")
            continue
        error = _check_type(fields[name], value)
        if error is None and value is not None and path in _VALIDATORS:
            error = _VALIDATORS[path](value)
        if error:
            problems.append(f"gemma.{shown}: {error}; keeping {current!r}")
            continue
        setattr(target, name, value)


def _check_type(f: dataclasses.Field, value: Any) -> str | None:
    annotation = str(f.type)
    optional = "None" in annotation
    if value is None:
        return None if optional else "must not be null"
    if annotation.startswith("bool"):
        return None if isinstance(value, bool) else "must be true or false"
    if annotation.startswith("int"):
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if annotation.startswith("float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if annotation.startswith("str"):
        return None if isinstance(value, str) and value.strip() else "must be a non-empty string"
    if annotation.startswith("list[str]"):
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
        return None if ok else "must be a non-empty list of strings"
    return None


def cache_dir() -> Path:
    """The user's cache folder for gemma-lsp (logs, transcripts, explanations), owner-only."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "gemma-lsp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.chmod(0o700)
    except OSError:
        pass
    return path
