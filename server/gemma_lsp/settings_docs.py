"""Writes the copies of the settings schema (`config.SCHEMA`) that editors and docs need.

    python -m gemma_lsp.settings_docs --write   # regenerate every artifact
    python -m gemma_lsp.settings_docs --check   # exit 1 and name the stale ones

Artifacts: editors/vscode/package.json `contributes.configuration`, editors/vscode/src/settingsTable.ts
(the table the extension validates with), the "Settings" table of docs/protocol.md and the server
settings section of editors/neovim/doc/gemma.txt (the last two between markers). The VS Code
extension's own keys (`gemma.server.*`, `gemma.inline.*`) are defined here: no other client has them.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gemma_lsp.config import SCHEMA, Setting

REPO = Path(__file__).resolve().parents[2]
COMMAND = "python -m gemma_lsp.settings_docs --write"

_CLIENT: dict[str, Any] = {"audience": "client", "scope": "machine"}
VSCODE_SETTINGS: tuple[Setting, ...] = (
    Setting("server.command", "stringArray", "Command that starts gemma-lsp, as a list: program then arguments "
            '(e.g. ["/path/to/gemma-lsp"] or ["python", "-m", "gemma_lsp"]). Empty: use `gemma.server.interpreter`, '
            "else `gemma-lsp` on PATH, else the selected Python interpreter, else offer to install into a private "
            "environment.", [], **_CLIENT),
    Setting("server.interpreter", "string", "Python interpreter whose environment has gemma-lsp installed; the "
            "server runs as `<interpreter> -m gemma_lsp`. Ignored when `gemma.server.command` is set.", "",
            **_CLIENT),
    Setting("server.env", "stringMap", "Extra environment variables for the server process (e.g. PYTHONPATH, "
            "HF_HOME, CUDA_VISIBLE_DEVICES).", {}, **_CLIENT),
    Setting("server.installSpec", "string", "What `pip install` installs when the extension sets up its own "
            "environment for the server (a package name, a version pin or a local path).", "gemma-lsp",
            **_CLIENT),
    Setting("inline.enabled", "boolean", 'Show inline (ghost text) completions. Can be set per language, e.g. '
            '"[markdown]": {"gemma.inline.enabled": false}; the command "Gemma: Toggle Inline Completions for '
            'This Language" does that for you.', True, audience="client", scope="language-overridable"),
    Setting("inline.debounceMs", "integer", "Milliseconds to wait after the last keystroke before asking the "
            "model for an inline completion. Requests made while typing are dropped.", 150, audience="client",
            minimum=0, maximum=5000),
)
# Read by vscode-languageclient itself, so it is in package.json but not in the extension's table.
_TRACE = {"type": "string", "enum": ["off", "messages", "verbose"], "default": "off",
          "markdownDescription": "Log the LSP messages between VS Code and gemma-lsp in the Gemma output channel."}


def documented() -> list[Setting]:
    """The settings every client documents, in the order they are shown."""
    return [s for s in SCHEMA if s.audience == "server"]


def _json(value: Any) -> Any:
    """JSON value as editors write it (60.0 is written 60)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ----- VS Code -------------------------------------------------------------------------------------

def _kind_fields(s: Setting) -> dict[str, Any]:
    """JSON-schema type fields, which are also the extension table's `kind` fields."""
    if s.kind == "string":
        return {"enum": list(s.choices)} if s.choices else {"pattern": s.pattern} if s.pattern else {}
    if s.kind == "integer":
        return {k: v for k, v in (("minimum", s.minimum), ("maximum", s.maximum)) if v is not None}
    if s.kind == "number" and s.exclusive_minimum is not None:
        return {"exclusiveMinimum": _json(s.exclusive_minimum)}
    return {}


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "nullableString": {"type": ["string", "null"]},
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "stringArray": {"type": "array", "items": {"type": "string"}},
    "nullableStringArray": {"type": ["array", "null"], "items": {"type": "string"}},
    "stringMap": {"type": "object", "additionalProperties": {"type": "string"}},
}


def vscode_settings() -> list[Setting]:
    return [*VSCODE_SETTINGS, *documented()]


def vscode_properties() -> dict[str, Any]:
    """package.json `contributes.configuration.properties`."""
    props: dict[str, Any] = {}
    for order, s in enumerate(vscode_settings()):
        props[f"gemma.{s.key}"] = {**_JSON_TYPES[s.kind], **_kind_fields(s), "default": _json(s.default),
                                   "markdownDescription": s.description, "order": order, "scope": s.scope}
    props["gemma.trace.server"] = {**_TRACE, "order": len(props), "scope": "window"}
    return props


def render_package_json(current: str) -> str:
    package = json.loads(current)
    package["contributes"]["configuration"] = {"title": "Gemma", "properties": vscode_properties()}
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


def render_settings_table(_current: str) -> str:
    """editors/vscode/src/settingsTable.ts, whole."""
    rows = []
    for s in vscode_settings():
        kind = json.dumps({"type": s.kind, **_kind_fields(s)})
        rows.append(f"    {{ key: {json.dumps(s.key)}, kind: {kind}, default: {json.dumps(_json(s.default))}, "
                    f"audience: {json.dumps(s.audience)},\n        description: {json.dumps(s.description)} }},")
    return "\n".join([
        f"// Generated from server/gemma_lsp/config.py by `{COMMAND}`: do not edit.",
        "import type { SettingSpec } from './settings';",
        "",
        "/** Every setting, in the order the settings editor shows them. */",
        "export const SETTINGS: readonly SettingSpec[] = [",
        *rows,
        "];",
        "",
    ])


# ----- docs/protocol.md ----------------------------------------------------------------------------

MD_BEGIN = f"<!-- generated from server/gemma_lsp/config.py by `{COMMAND}` -->"
MD_END = "<!-- end of generated settings -->"


def _doc_type(s: Setting) -> str:
    if s.shown_type:
        return s.shown_type
    if s.choices:
        return " \\| ".join(f'`"{c}"`' for c in s.choices)
    if s.kind == "integer":
        return f"int {s.minimum}..{s.maximum}"
    if s.kind == "number" and s.exclusive_minimum is not None:
        return f"number > {_json(s.exclusive_minimum)}"
    return {"string": "string", "nullableString": "string \\| null", "boolean": "bool", "number": "number",
            "nullableStringArray": "string[] \\| null"}[s.kind]


def _doc_default(s: Setting) -> str:
    text = json.dumps(_json(s.default))
    return f"`{text}`" if isinstance(s.default, str) else text


def _escape_bars(text: str) -> str:
    return text.replace("|", "\\|")  # a bar would end the table cell


def protocol_table() -> list[str]:
    rows = [f"| `{s.key}` | {_doc_type(s)} | {_doc_default(s)} | {_escape_bars(s.description)} |"
            for s in documented()]
    return ["| key | type | default | meaning |", "|---|---|---|---|", *rows]


def _between(current: str, begin: str, end: str, body: list[str], where: str) -> str:
    """`current` with the lines strictly between the `begin` and `end` lines replaced by `body`."""
    lines = current.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(begin)]
    ends = [i for i, line in enumerate(lines) if line.startswith(end)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{where}: expected one {begin!r} line and, after it, one {end!r} line")
    return "\n".join(lines[:starts[0] + 1] + body + lines[ends[0]:])


def render_protocol(current: str) -> str:
    return _between(current, MD_BEGIN, MD_END, protocol_table(), "docs/protocol.md")


# ----- Neovim :help --------------------------------------------------------------------------------

HELP_BEGIN = "Server settings ~"
HELP_END = "(Generated from server/gemma_lsp/config.py"
_HELP_COLUMN = 24


def _help_type(s: Setting) -> str:
    if s.choices:
        return "one of " + ", ".join(s.choices)
    if s.kind == "integer":
        return f"integer {s.minimum}..{s.maximum}"
    if s.kind == "number" and s.exclusive_minimum is not None:
        return f"number > {_json(s.exclusive_minimum)}"
    return {"string": "string", "nullableString": "string or nil", "boolean": "boolean", "number": "number",
            "nullableStringArray": "list of strings or nil"}[s.kind]


def _help_default(s: Setting) -> str:
    value = _json(s.default)
    return "nil" if value is None else f"'{value}'" if isinstance(value, str) else json.dumps(value)


def help_entries() -> list[str]:
    """One entry per server setting: key, type and default, then the meaning, wrapped at 78 columns."""
    indent = " " * _HELP_COLUMN
    lines: list[str] = []
    for s in documented():
        lines.append(f"{s.key:<{_HELP_COLUMN}}{_help_type(s)}, default {_help_default(s)}"
                     if len(s.key) < _HELP_COLUMN else s.key)
        # Bars make links in help files, but not inside backticks (the one place a meaning has them).
        lines += textwrap.wrap(s.description, 78, initial_indent=indent, subsequent_indent=indent,
                               break_on_hyphens=False, break_long_words=False)
    return lines


def render_help(current: str) -> str:
    intro = ["Every key of `server.settings`, nested as in the example above (`remote.url`",
             "is `remote = { url = ... }`), with its type and default:", ""]
    return _between(current, HELP_BEGIN, HELP_END, [*intro, *help_entries(), ""], "editors/neovim/doc/gemma.txt")


# ----- write / check -------------------------------------------------------------------------------

ARTIFACTS: dict[str, Callable[[str], str]] = {
    "editors/vscode/package.json": render_package_json,
    "editors/vscode/src/settingsTable.ts": render_settings_table,
    "docs/protocol.md": render_protocol,
    "editors/neovim/doc/gemma.txt": render_help,
}


def stale(root: Path = REPO) -> list[str]:
    """The artifacts whose text differs from what the schema generates."""
    return [path for path, render in ARTIFACTS.items() if _read(root / path) != render(_read(root / path))]


def write(root: Path = REPO) -> list[str]:
    """Regenerate every stale artifact; returns their paths."""
    changed = stale(root)
    for path in changed:
        (root / path).write_text(ARTIFACTS[path](_read(root / path)), encoding="utf-8")
    return changed


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gemma_lsp.settings_docs", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="regenerate the stale artifacts")
    parser.add_argument("--check", action="store_true", help="exit 1 when an artifact is out of date (default)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.write:
        changed = write()
        print(f"wrote {', '.join(changed)}" if changed else "every settings artifact is up to date")
        return 0
    out_of_date = stale()
    for path in out_of_date:
        print(f"{path} is out of date: run `{COMMAND}`", file=sys.stderr)
    if not out_of_date:
        print("every settings artifact is up to date")
    return 1 if out_of_date else 0


if __name__ == "__main__":
    sys.exit(main())
