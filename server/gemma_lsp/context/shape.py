"""Completion shape: one line or a block, decided from the syntax around the cursor, and the
indentation the completion's new lines start at."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from tree_sitter import Node

from .languages import LANGUAGES
from .positions import LineIndex, byte_offset

Mode = Literal["single", "multi"]

# Text after the cursor that still counts as "end of line": closers the editor auto-inserted.
_CLOSERS_ONLY = re.compile(r"""^[\s)\]}>;,:'"`]*$""")
_PY_BLOCK_KEYWORDS = re.compile(
    r"^\s*(async\s+)?(def|class|if|elif|else|for|while|try|except|finally|with|match|case)\b.*:\s*(#.*)?$"
)


@dataclass(frozen=True)
class Shape:
    mode: Mode
    reason: str  # why, shown by the context command
    indent: str  # indentation of the completion's lines
    indent_unit: str
    line_prefix: str  # the cursor's line up to the cursor
    line_suffix: str  # the cursor's line after the cursor


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def detect_indent_unit(lines: list[str], default: str) -> str:
    """Tabs if most indented lines start with a tab, else the most common step between indents."""
    tabs = spaces = 0
    steps: Counter[int] = Counter()
    previous = 0
    for line in lines:
        if not line.strip():
            continue
        ws = leading_ws(line)
        if ws.startswith("\t"):
            tabs += 1
            continue
        width = len(ws)
        if width:
            spaces += 1
        if width > previous and width - previous <= 8:
            steps[width - previous] += 1
        previous = width
    if tabs > spaces:
        return "\t"
    if not steps:
        return default
    return " " * steps.most_common(1)[0][0]


def indent_unit_around(lines: LineIndex, line: int, language: str | None) -> str:
    """The indentation step of the 200 lines around `line`."""
    spec = LANGUAGES.get(language or "")
    count = len(lines.starts)
    window = [lines.line_text(i) for i in range(max(0, line - 100), min(count, line + 100))]
    return detect_indent_unit(window, spec.indent_unit if spec else "    ")


def _inside(node: Node | None, byte: int, types: frozenset[str]) -> bool:
    while node is not None:
        if node.type in types and node.start_byte < byte < node.end_byte:
            return True
        node = node.parent
    return False


def opens_block(line: str, language: str | None) -> bool:
    stripped = line.rstrip()
    if language == "python":
        return bool(_PY_BLOCK_KEYWORDS.match(stripped))
    return stripped.endswith("{")


def decide_shape(lines: LineIndex, offset: int, language: str | None, root: Node | None,
                 unit: str | None = None) -> Shape:
    """Single line or block at code-point `offset` of `lines.text`; `root` is its tree (or None);
    `unit` is the file's indentation step when known (else detected around the cursor)."""
    text = lines.text
    cursor_line = lines.line_of(offset)
    line = lines.line_text(cursor_line)
    line_start = lines.starts[cursor_line]
    line_prefix, line_suffix = line[: offset - line_start], line[offset - line_start:]
    spec = LANGUAGES.get(language or "")
    count = len(lines.starts)
    if unit is None:
        unit = indent_unit_around(lines, cursor_line, language)

    def shape(mode: Mode, reason: str, indent: str) -> Shape:
        return Shape(mode, reason, indent, unit, line_prefix, line_suffix)

    if root is not None and spec is not None:
        byte = byte_offset(text, offset)
        node = root.descendant_for_byte_range(byte, byte)
        if _inside(node, byte, spec.string_types):
            return shape("single", "in a string", leading_ws(line))
        if _inside(node, byte, spec.comment_types):
            return shape("single", "in a comment", leading_ws(line))
    if not _CLOSERS_ONLY.match(line_suffix):
        return shape("single", "mid-line", leading_ws(line))
    if line_prefix.strip():
        if opens_block(line_prefix, language):
            return shape("multi", "end of a line that opens a block", leading_ws(line) + unit)
        return shape("single", "end of line", leading_ws(line))
    # The cursor is on a blank line (or in its indentation): write a block at this level.
    above = next((t for i in range(cursor_line - 1, -1, -1) if (t := lines.line_text(i)).strip()), "")
    below = next((t for i in range(cursor_line + 1, count) if (t := lines.line_text(i)).strip()), None)
    if line_prefix:
        indent = line_prefix
    elif opens_block(above, language):
        indent = leading_ws(above) + unit
    elif below is None:
        indent = ""  # an empty last line: the cursor is where the file's top level continues
    else:
        indent = leading_ws(above)
    if above.lstrip().startswith("@"):
        reason = "after a decorator"
    elif opens_block(above, language) and (below is None or len(leading_ws(below)) < len(indent)):
        reason = "empty body"
    elif below is None:
        reason = "end of file"
    else:
        reason = "blank line"
    return shape("multi", reason, indent)
