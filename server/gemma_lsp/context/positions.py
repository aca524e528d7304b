"""LSP positions <-> offsets in a Python string <-> tree-sitter byte offsets and points.

LSP counts a line's characters in the negotiated encoding: UTF-16 code units by default (an emoji is
two), or UTF-8 bytes, or UTF-32 code points. Python strings index code points, tree-sitter indexes
UTF-8 bytes, and its points are (row, byte column). Lines end at "\\n" (a "\\r\\n" line keeps its "\\r"
as the last character of the line, which is where editors put the cursor anyway).
"""

from __future__ import annotations

import bisect
from itertools import accumulate

ENCODINGS = ("utf-8", "utf-16", "utf-32")
_PLUS_ONE = (1).__add__  # a line's length plus its "\n", mapped in C


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown position encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    return encoding


def _units(ch: str, encoding: str) -> int:
    code = ord(ch)
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def column_to_chars(line: str, column: int, encoding: str) -> int:
    """How many code points of `line` lie before LSP column `column` (clamped to the line's length).

    A column that falls inside a character (half of a surrogate pair) counts that character as before.
    """
    if column <= 0:
        return 0
    if encoding == "utf-32" or line.isascii():
        return min(column, len(line))
    units = 0
    for index, ch in enumerate(line):
        if units >= column:
            return index
        units += _units(ch, encoding)
    return len(line)


def chars_to_column(line: str, chars: int, encoding: str) -> int:
    """The LSP column of the point `chars` code points into `line`."""
    head = line[:chars]
    if encoding == "utf-32" or head.isascii():
        return len(head)
    if encoding == "utf-8":
        return len(head.encode("utf-8"))
    return len(head.encode("utf-16-le")) // 2


class LineIndex:
    """Start offsets of the lines of one text, for O(log n) offset <-> (line, column) lookups."""

    def __init__(self, text: str, starts: list[int] | None = None) -> None:
        self.text = text
        # starts[i] is the offset of line i's first character; a final line without "\n" counts too.
        self.starts = starts if starts is not None else \
            [0, *accumulate(map(_PLUS_ONE, map(len, text.split("\n"))))][:-1]

    def replaced(self, start: int, end: int, new_text: str, text: str) -> LineIndex:
        """The index of `text`, which is this index's text with [start:end] replaced by `new_text`
        (cheaper than a fresh index: only the line starts after the edit move)."""
        first = self.line_of(start)
        last = self.line_of(end)
        delta = len(new_text) - (end - start)
        inserted = [start + i + 1 for i, ch in enumerate(new_text) if ch == "\n"] if "\n" in new_text else []
        tail = self.starts[last + 1:]
        moved = list(map(delta.__add__, tail)) if delta else tail
        return LineIndex(text, self.starts[: first + 1] + inserted + moved)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def line_text(self, line: int) -> str:
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end]

    def offset_at(self, line: int, column: int, encoding: str) -> int:
        """Code-point offset of an LSP (line, column); positions past a line's end or the text's end
        are clamped to them, negative ones to the start."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        return self.starts[line] + column_to_chars(self.line_text(line), column, encoding)

    def position_at(self, offset: int, encoding: str) -> tuple[int, int]:
        """LSP (line, column) of a code-point offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        return line, chars_to_column(self.line_text(line), offset - self.starts[line], encoding)


def byte_offset(text: str, offset: int) -> int:
    """UTF-8 byte offset of code-point offset `offset` in `text`."""
    head = text[:offset]
    return offset if head.isascii() else len(head.encode("utf-8"))


def char_offset(data: bytes, byte: int) -> int:
    """Code-point offset of UTF-8 byte offset `byte` in `data` (a byte inside a character rounds down)."""
    head = data[:byte]
    if head.isascii():
        return len(head)
    return len(head.decode("utf-8", errors="ignore"))


def ts_point(text: str, offset: int) -> tuple[int, int]:
    """Tree-sitter point (row, UTF-8 byte column) of a code-point offset."""
    row = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return row, byte_offset(text[line_start:offset], offset - line_start)


def end_point(start: tuple[int, int], inserted: str) -> tuple[int, int]:
    """The point where `inserted` ends when inserted at point `start`."""
    newlines = inserted.count("\n")
    if not newlines:
        return start[0], start[1] + len(inserted.encode("utf-8"))
    tail = inserted[inserted.rfind("\n") + 1:]
    return start[0] + newlines, len(tail.encode("utf-8"))
