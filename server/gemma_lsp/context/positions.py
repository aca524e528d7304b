"""The one place that maps between LSP positions, offsets in a Python string and tree-sitter points.

Every feature (document sync, completion, code-action and debug edits, the CLI) maps through here, so
they agree on where a line ends and how a column is counted:

- **Lines** end at "\\n", "\\r\\n" or a lone "\\r", as the LSP specification says, and nowhere else
  (`str.splitlines` would also split at form feeds and Unicode separators). A position's column never
  counts the line break; a column past a line's end is clamped to the end, before its break.
- **Columns** count the negotiated position encoding's code units: UTF-16 by default (an emoji is two),
  UTF-8 bytes (Neovim asks for them) or UTF-32 code points. The encoding is never a global: it is
  negotiated once at `initialize` and passed to every call that needs it (the document store holds it
  for its documents, a `Snapshot` for the edits computed on its text).
- Python strings index code points; tree-sitter indexes UTF-8 bytes, and its points are (row, byte
  column) with rows counted at "\\n" only: that is tree-sitter's convention, not LSP's, so `ts_point`
  and `end_point` keep it.
"""

from __future__ import annotations

import bisect
import re
from itertools import accumulate

from lsprotocol import types

# The position every layer passes around: LSP's (line, character in the negotiated encoding). Layers
# below lsp/ name it from here, so that only lsp/ imports lsprotocol for transport.
Position = types.Position

ENCODINGS = ("utf-8", "utf-16", "utf-32")
_PLUS_ONE = (1).__add__  # a line's length plus its "\n", mapped in C
_BREAK = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown position encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    return encoding


def line_starts(text: str) -> list[int]:
    """Offsets where each line starts (the first is 0; a text ending in a line break has an empty
    last line after it)."""
    if text.count("\r") == text.count("\r\n"):  # no lone "\r" (the common case): split at "\n", in C
        return [0, *accumulate(map(_PLUS_ONE, map(len, text.split("\n"))))][:-1]
    return [0, *(m.end() for m in _BREAK.finditer(text))]


def lines_with_breaks(text: str) -> list[str]:
    """The lines of `text`, each with its line break; they join back to `text`."""
    return _LINE.findall(text)


def split_lines(text: str) -> list[str]:
    """The lines of `text` without their breaks, split where LSP splits. Like `str.splitlines`, a
    final line break adds no empty line and "" has no lines."""
    return [line.rstrip("\r\n") for line in _LINE.findall(text)]


def _starts_line(text: str, p: int) -> bool:
    """Whether a line starts at offset p > 0: after a "\\n", or after a "\\r" not followed by "\\n"."""
    before = text[p - 1]
    return before == "\n" or (before == "\r" and text[p:p + 1] != "\n")


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
        # starts[i] is the offset of line i's first character; a final line without a break counts too.
        self.starts = starts if starts is not None else line_starts(text)

    def replaced(self, start: int, end: int, new_text: str, text: str) -> LineIndex:
        """The index of `text`, which is this index's text with [start:end] replaced by `new_text`
        (cheaper than a fresh index: only the line starts after the edit move).

        Whether a line starts at offset p depends on the characters at p - 1 and p (a "\r" followed by
        "\n" is one break), so the starts in [start, start + len(new_text)] are found again in `text`;
        those before the edit stay and those after its old end move by the change in length."""
        new_end = start + len(new_text)
        delta = new_end - end
        starts = self.starts[:bisect.bisect_left(self.starts, max(start, 1))]  # 0 always starts a line
        tail = bisect.bisect_right(self.starts, end)
        if "\r" in text[max(0, start - 1):new_end + 1] or "\r" in self.text[max(0, start - 1):end + 1]:
            middle = [p for p in range(max(1, start), new_end + 1) if _starts_line(text, p)]
        else:  # "\n" only around the edit: the starts are right after each "\n" of the new text
            middle = [start + i + 1 for i, ch in enumerate(new_text) if ch == "\n"] if "\n" in new_text else []
            if start and text[start - 1] == "\n":
                middle.insert(0, start)
        # One list built in place: a keystroke in a 5,000-line file moves thousands of starts.
        starts += middle
        starts += map(delta.__add__, self.starts[tail:]) if delta else self.starts[tail:]
        return LineIndex(text, starts)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def line_end(self, line: int) -> int:
        """Offset of the end of `line`'s text, before its line break."""
        if line + 1 >= len(self.starts):
            return len(self.text)
        end = self.starts[line + 1]
        return end - 2 if self.text[end - 2:end] == "\r\n" else end - 1

    def line_text(self, line: int) -> str:
        """The text of `line`, without its line break."""
        return self.text[self.starts[line]:self.line_end(line)]

    def offset_at(self, line: int, column: int, encoding: str) -> int:
        """Code-point offset of an LSP (line, column); positions past a line's end or the text's end
        are clamped to them, negative ones to the start."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        return self.starts[line] + column_to_chars(self.line_text(line), column, encoding)

    def position_at(self, offset: int, encoding: str) -> tuple[int, int]:
        """LSP (line, column) of a code-point offset (clamped to the text; an offset inside a "\r\n"
        maps to the end of its line)."""
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        return line, chars_to_column(self.line_text(line), offset - self.starts[line], encoding)

    def position(self, offset: int, encoding: str) -> types.Position:
        """`position_at` as an LSP Position."""
        line, column = self.position_at(offset, encoding)
        return types.Position(line=line, character=column)

    def offset(self, position: types.Position, encoding: str) -> int:
        """`offset_at` of an LSP Position."""
        return self.offset_at(position.line, position.character, encoding)


def position_of(text: str, offset: int, encoding: str) -> types.Position:
    """The LSP position of code-point `offset` in `text` (one-off; keep a LineIndex for many)."""
    return LineIndex(text).position(offset, encoding)


def offset_of(text: str, position: types.Position, encoding: str) -> int:
    """The code-point offset of an LSP position in `text`, clamped to its line and to the text."""
    return LineIndex(text).offset(position, encoding)


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
