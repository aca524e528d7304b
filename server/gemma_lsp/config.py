"""Settings: defined once here, read from initializationOptions, didChangeConfiguration and the CLI.

Every field has a default. Invalid values never crash the server: `Settings.from_lsp` returns the
settings with the defaults kept for the bad fields, plus a list of messages to show the user.

`SCHEMA` describes every editor-settable key (type, bounds, meaning); the defaults are the dataclass
fields'. The editors' and the docs' copies are generated from it (`python -m gemma_lsp.settings_docs
--write`: editors/vscode/package.json and src/settingsTable.ts, docs/protocol.md, the Neovim help) and
tests/test_settings_docs.py fails when one is out of date.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

PRESETS = ("auto", "tiny", "31b", "26b", "e4b", "e2b")
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
    alternatives: int = 3  # most items an Invoked inline-completion request returns


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
    # The completion prompt's budget (editor key `maxContextTokens`, kept for compatibility). Not the
    # engine's context limit (prompt + reply), which the model and the memory left set.
    prompt_budget_tokens: int = 4096
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
        settings = _deep_copy(base) if base else cls()
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


# ----- the schema ----------------------------------------------------------------------------------

# Value kinds, named as the VS Code extension's settings table names them.
Kind = Literal["string", "nullableString", "boolean", "integer", "number", "stringArray",
               "nullableStringArray", "stringMap"]
Audience = Literal["server", "client", "hidden"]


@dataclass(frozen=True)
class Setting:
    """One key under `gemma.`: how it is checked and what it means.

    `key` is dotted camelCase as editors write it; `attr` the dotted path in `Settings` (they differ
    only where an old key is kept for compatibility). `audience`: `server` settings are documented
    for every client; `client` ones are read by the VS Code extension only; `hidden` ones are sent by
    clients themselves and not user settings.
    """

    key: str
    kind: Kind
    description: str
    default: Any
    attr: str = ""
    audience: Audience = "server"
    choices: tuple[str, ...] = ()
    pattern: str = ""
    minimum: int | None = None
    maximum: int | None = None
    exclusive_minimum: float | None = None
    scope: Literal["window", "machine", "language-overridable"] = "window"
    # How docs/protocol.md writes the type when the generic wording would hide the values.
    shown_type: str = ""


def _default_at(attr: str) -> Any:
    value: Any = Settings()
    for part in attr.split("."):
        value = getattr(value, part)
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _server(attr: str, kind: Kind, description: str, key: str = "", **extra: Any) -> Setting:
    """A server setting whose default is the `Settings` field's (so it is written once)."""
    key = key or ".".join(_camel(part) for part in attr.split("."))
    return Setting(key, kind, description, _default_at(attr), attr=attr, **extra)


_LIMIT = 1 << 20
_MACHINE: Any = {"scope": "machine"}

SCHEMA: tuple[Setting, ...] = (
    _server("model", "string", "Model preset: `31b`, `26b`, `e4b`, `e2b`, `auto` (the largest preset whose "
            "memory need fits the hardware found), `tiny` (random weights, for tests), or a local model folder."),
    _server("drafter_model", "nullableString", "Drafter (`-assistant`) model folder when `gemma.model` is a folder."),
    _server("engine", "string", "Run the model in the server process (`local`) or talk to an OpenAI-compatible "
            "server (`remote`).", choices=("local", "remote"), **_MACHINE),
    _server("remote.url", "string", "Base URL of the OpenAI-compatible server (remote engine).", **_MACHINE),
    _server("remote.model", "nullableString", "Served model id (default: the first one the server lists).",
            **_MACHINE),
    _server("remote.api_key_env", "string", "Environment variable holding the remote API key.", **_MACHINE),
    _server("remote.timeout_seconds", "number", "Seconds without data before a request to the remote server "
            "fails.", exclusive_minimum=0, **_MACHINE),
    _server("device", "string", "Where the model runs: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`.",
            pattern="^(auto|cpu|cuda|cuda:[0-9]+|mps)$",
            shown_type='`"auto"` \\| `"cpu"` \\| `"cuda"` \\| `"cuda:N"` \\| `"mps"`'),
    _server("dtype", "string", "Data type of the weights (`auto`: bfloat16 on a GPU; float32 on a CPU, bfloat16 "
            "where float32 does not fit the memory available).", choices=DTYPES),
    _server("drafter", "boolean", "Speculative decoding with the Gemma 4 `-assistant` drafter."),
    _server("draft_tokens", "integer", "Drafted tokens per step when `gemma.adaptiveDraft` is off; when on, the "
            "most per step is the larger of this and 8.", minimum=1, maximum=16),
    _server("adaptive_draft", "boolean", "A cost model picks each step's draft length (0 = a plain step) from "
            "measured step costs and acceptance."),
    _server("max_new_tokens", "integer", "Most tokens per inline completion.", minimum=1, maximum=8192),
    _server("prompt_budget_tokens", "integer", "Prompt budget for completions, in tokens (the model's own "
            "context limit is set by the model and the memory available).", key="maxContextTokens",
            minimum=256, maximum=262144),
    _server("kv_cache_budget_mb", "integer", "Memory (MiB) kept for reused prompt caches.",
            minimum=0, maximum=_LIMIT),
    _server("completion.enabled", "boolean", "Let the server answer inline completion requests "
            "(`textDocument/inlineCompletion`) at all: all languages, all editors."),
    _server("completion.alternatives", "integer", "Most suggestions an explicitly requested inline completion "
            "(Invoked: the user asked, or cycles) returns: the usual one first, then alternatives that branch "
            "where the model is least sure. Automatic requests always get one.", minimum=1, maximum=5),
    _server("debug.max_tool_calls", "integer", 'Most tool calls in one "Ask to Debug" session.',
            minimum=0, maximum=200),
    _server("debug.max_tokens", "integer", 'Most generated tokens in one "Ask to Debug" session.',
            minimum=16, maximum=_LIMIT),
    _server("debug.max_seconds", "integer", 'Most seconds one "Ask to Debug" session may take.',
            minimum=1, maximum=86400),
    _server("debug.thinking", "boolean", 'Gemma 4 reasoning mode (`<|think|>`) in "Ask to Debug" sessions.'),
    _server("debug.show_thoughts", "boolean", "Include the model's thoughts in answers."),
    _server("sandbox.timeout_seconds", "integer", "Wall-clock limit per sandboxed tool command, in seconds.",
            minimum=1, maximum=86400),
    _server("sandbox.memory_mb", "integer", "Memory limit per sandboxed tool command, in MiB: one cap for its "
            "whole process tree and its tmpfs writes (a cgroup; per process where none can be created), also "
            "the size of its `/tmp` and `/dev/shm`.", minimum=64, maximum=_LIMIT),
    _server("tests.command", "nullableStringArray", 'How the `run_tests` tool runs the tests, as a list (e.g. '
            '["pytest", "-x"]); null: detect.'),
    _server("log_file", "nullableString", "Also write the server log to this file (owner-only; applied when the "
            "setting arrives)."),
    _server("client_renders_explanations", "boolean", "The client shows explanations itself (set by clients "
            "in initializationOptions).", audience="hidden"),
)

_BY_KEY = {setting.key: setting for setting in SCHEMA}
_GROUPS = {setting.key.rsplit(".", 1)[0] for setting in SCHEMA if "." in setting.key}


def setting(key: str) -> Setting:
    """The schema entry of an editor key (`"draftTokens"`, `"remote.url"`)."""
    return _BY_KEY[key]


# ----- checking values -----------------------------------------------------------------------------

def _check_kind(kind: Kind, value: Any) -> str | None:
    if value is None:
        return None if kind.startswith("nullable") else "must not be null"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if kind in ("string", "nullableString"):
        return None if isinstance(value, str) and value.strip() else "must be a non-empty string"
    if kind in ("stringArray", "nullableStringArray"):
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
        return None if ok else "must be a non-empty list of strings"
    return None


def _model(value: str) -> str | None:
    if value.lower() in PRESETS:
        return None
    path = Path(os.path.expanduser(value))
    if path.is_dir() or "/" in value or value.startswith("."):
        return None  # a local folder (checked again, with a clearer message, when loading)
    return f"must be a preset ({', '.join(PRESETS)}) or a local model folder"


# Messages kept from before the schema for the settings whose generic wording would be vaguer.
_CUSTOM_CHECKS = {
    "model": _model,
    "device": lambda v: None if re.match(_BY_KEY["device"].pattern, v) else "must be auto, cpu, cuda, cuda:N or mps",
}


def check(setting: Setting, value: Any) -> str | None:
    """Why `value` is not valid for `setting`, or None."""
    error = _check_kind(setting.kind, value)
    if error or value is None:
        return error
    if setting.key in _CUSTOM_CHECKS:
        return _CUSTOM_CHECKS[setting.key](value)
    if setting.choices and value not in setting.choices:
        return f"must be one of {', '.join(setting.choices)}"
    if setting.minimum is not None and setting.maximum is not None and not setting.minimum <= value <= setting.maximum:
        return f"must be between {setting.minimum} and {setting.maximum}"
    if setting.exclusive_minimum is not None and not value > setting.exclusive_minimum:
        return "must be positive" if setting.exclusive_minimum == 0 else f"must be more than {setting.exclusive_minimum}"
    return None


def _apply(settings: Settings, options: dict, prefix: str, problems: list[str]) -> None:
    for raw_key, value in options.items():
        shown = prefix + _camel(_snake(str(raw_key)))  # snake_case keys are accepted too
        # Groups are objects ({"remote": {"url": ...}}); a dotted key is not a setting name.
        setting = None if "." in str(raw_key) else _BY_KEY.get(shown)
        if setting is None:
            if shown not in _GROUPS or "." in str(raw_key):
                problems.append(f"gemma.{shown}: unknown setting (ignored)")
            elif isinstance(value, dict):
                _apply(settings, value, f"{shown}.", problems)
            else:
                problems.append(f"gemma.{shown}: must be an object")
            continue
        *parents, name = setting.attr.split(".")
        target: Any = settings
        for part in parents:
            target = getattr(target, part)
        error = check(setting, value)
        if error:
            problems.append(f"gemma.{shown}: {error}; keeping {getattr(target, name)!r}")
            continue
        setattr(target, name, value)


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
