"""The user's recent edits per open document, as unified diffs: what a next-edit prediction reads.

`didChange` reports keystrokes, not edits: typing `total` is five changes. A change that touches the
region the document's latest edit has changed so far (overlapping it or adjacent to it) extends that
edit, so typing a word, backspacing over it or typing a line are one edit each; a change elsewhere
closes the latest edit and starts a new one. An edit is kept as the document's text before it began
and the span it covers then and now, so its diff is computed only when asked for (never per
keystroke); a closed edit's diff is computed once and frozen, with the line numbers of that moment.

Bounded: the last MAX_EDITS edits per document; an edit whose diff is over MAX_DIFF_CHARS (a paste, a
whole-file replacement, a formatter's run) is left out as too large to be a pattern to follow; an edit
that undid itself (typed, then deleted) leaves nothing. A document's history goes when it is closed.
"""

from __future__ import annotations

import difflib
import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_EDITS = 8
MAX_DIFF_CHARS = 2000
CONTEXT_LINES = 2  # unchanged lines shown around a change


@dataclass
class _OpenEdit:
    """An edit still growing: `base` is the text before it; base[start:old_end] became
    current[start:new_end]; the text outside that span is the same in both (shifted after it)."""

    base: str
    start: int
    old_end: int
    new_end: int


class EditHistory:
    """Recent edits of every open document (thread-safe: changes come from the event loop, prompts
    are built on worker threads)."""

    def __init__(self, max_edits: int = MAX_EDITS, max_diff_chars: int = MAX_DIFF_CHARS) -> None:
        self.max_edits = max_edits
        self.max_diff_chars = max_diff_chars
        self._closed: dict[str, deque[str]] = {}  # uri -> frozen diffs, oldest first
        self._open: dict[str, tuple[_OpenEdit, str]] = {}  # uri -> (the growing edit, the text now)
        self._touched: dict[str, int] = {}  # uri -> when it was last edited (a counter)
        self._clock = itertools.count()
        self._lock = threading.Lock()

    def record(self, uri: str, text: str, start: int, end: int, new_text: str, after: str) -> None:
        """`text[start:end]` (code-point offsets) was replaced by `new_text`, giving `after`."""
        with self._lock:
            current = self._open.get(uri)
            edit = current[0] if current is not None else None
            if edit is not None and start <= edit.new_end and end >= edit.start:
                # Touches the growing edit: extend it. Beyond its end, base and text are aligned with
                # a shift, so the span in base grows by what the change covers past the end.
                edit.old_end += max(0, end - edit.new_end)
                edit.new_end = max(edit.new_end, end) + len(new_text) - (end - start)
                edit.start = min(edit.start, start)
            else:
                if current is not None:
                    self._freeze(uri, current[0], current[1])
                edit = _OpenEdit(base=text, start=start, old_end=end, new_end=start + len(new_text))
            self._open[uri] = (edit, after)
            self._touched[uri] = next(self._clock)

    def record_whole(self, uri: str, before: str, after: str) -> None:
        """A whole-text change: recorded as the span that really changed."""
        start, end, new_text = _changed_span(before, after)
        if start != end or new_text:
            self.record(uri, before, start, end, new_text, after)

    def forget(self, uri: str) -> None:
        """The document was closed: its history goes with it."""
        with self._lock:
            self._closed.pop(uri, None)
            self._open.pop(uri, None)
            self._touched.pop(uri, None)

    def diffs(self, uri: str, label: str) -> list[str]:
        """The document's recent edits, oldest first, each a unified diff (`--- a/<label>`, `+++
        b/<label>`, hunks with line numbers, CONTEXT_LINES of context)."""
        with self._lock:
            frozen = list(self._closed.get(uri, ()))
            current = self._open.get(uri)
        diffs = [_with_headers(body, label) for body in frozen]
        if current is not None:
            body = _diff_body(current[0], current[1])
            if body and len(body) <= self.max_diff_chars:
                diffs.append(_with_headers(body, label))
        return diffs[-self.max_edits:]

    def diffs_elsewhere(self, uri: str, label_of: Callable[[str], str], documents: int = 2,
                        per_document: int = 2) -> list[str]:
        """The latest edits of the other documents edited most recently (a changed signature in one
        file is what the call sites in another follow): `per_document` edits of each of the
        `documents` most recently edited others, the least recently edited document first."""
        with self._lock:
            others = sorted((at, other) for other, at in self._touched.items() if other != uri)[-documents:]
        return [diff for _, other in others for diff in self.diffs(other, label_of(other))[-per_document:]]

    def _freeze(self, uri: str, edit: _OpenEdit, text: str) -> None:
        body = _diff_body(edit, text)
        if not body or len(body) > self.max_diff_chars:
            return
        kept = self._closed.setdefault(uri, deque(maxlen=self.max_edits))
        kept.append(body)


def _changed_span(before: str, after: str) -> tuple[int, int, str]:
    """(start, end, replacement) with before[start:end] -> replacement giving `after`, between their
    common prefix and common suffix (found by bisection over slice comparisons, which run in C)."""
    def common(a: str, b: str) -> int:
        low, high = 0, min(len(a), len(b))
        while low < high:
            middle = (low + high + 1) // 2
            if a[:middle] == b[:middle]:
                low = middle
            else:
                high = middle - 1
        return low

    start = common(before, after)
    tail = common(before[start:][::-1], after[start:][::-1])
    return start, len(before) - tail, after[start:len(after) - tail]


def _with_headers(body: str, label: str) -> str:
    return f"--- a/{label}\n+++ b/{label}\n{body}"


def _diff_body(edit: _OpenEdit, text: str) -> str:
    """The hunks of one edit (without file headers), with the document's line numbers."""
    old_lines, first = _lines_around(edit.base, edit.start, edit.old_end)
    new_lines, _ = _lines_around(text, edit.start, edit.new_end)
    if old_lines == new_lines:
        return ""  # the edit undid itself
    hunks = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=CONTEXT_LINES))[2:]
    return "".join(_shift_header(line, first) + "\n" for line in hunks)


def _lines_around(text: str, start: int, end: int) -> tuple[list[str], int]:
    """The whole lines holding text[start:end] plus CONTEXT_LINES each side, and the 0-based number of
    the first one."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    first = text.count("\n", 0, line_start)
    for _ in range(CONTEXT_LINES):
        if line_start == 0:
            break
        line_start = text.rfind("\n", 0, line_start - 1) + 1
        first -= 1
    for _ in range(CONTEXT_LINES):
        if line_end >= len(text):
            break
        found = text.find("\n", line_end + 1)
        line_end = len(text) if found < 0 else found
    lines = text[line_start:line_end].split("\n")
    if line_end == len(text) and len(lines) > 1 and lines[-1] == "":
        lines.pop()  # the text ends with a newline: there is no line after it
    return lines, first


def _shift_header(line: str, first: int) -> str:
    """difflib numbers lines from 1 within the excerpt; the prompt needs the document's numbers."""
    if not line.startswith("@@ "):
        return line
    old, new = line[3:].split(" @@", 1)[0].split(" ")
    return f"@@ {_shift_range(old, first)} {_shift_range(new, first)} @@"


def _shift_range(spec: str, first: int) -> str:
    sign, numbers = spec[0], spec[1:]
    start, _, count = numbers.partition(",")
    return f"{sign}{int(start) + first}" + (f",{count}" if count else "")
