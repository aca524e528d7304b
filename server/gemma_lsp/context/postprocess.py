"""From the model's reply to the text to insert. Each rule has golden tests
(tests/context/fixtures/postprocess.json); when the reply cannot be made sensible the answer is ""
(no suggestion) rather than garbage.

The rules, in order:
  1. garbage: special tokens, the cursor marker or control characters mean nothing is inserted;
  2. fences and chatter: the code block's contents only; prose before or after it goes;
  3. repeated line start: a reply that starts by repeating the cursor's line drops that repetition;
  4. shape: a single-line completion keeps its first line;
  5. following lines: the reply ends where it starts repeating the lines after the cursor, and a
     line identical to the next line of the file is never inserted;
  6. indentation: the block is re-indented to the cursor's level in the file's style (tabs/spaces);
  7. suffix overlap: the end of the reply that the rest of the cursor's line already has goes;
  8. brackets: a closer with nothing to close cuts the reply there; a single line that leaves "(" or
     "[" open gets its closers, unless the rest of the line has them;
  9. blank or whitespace-only results are "".
"""

from __future__ import annotations

import re

from .parts import CompletionContext
from .prompt import CURSOR, FENCE
from .shape import opens_block

_SPECIAL = re.compile(r"<\|[a-z_\"]+>|<[a-z_\"]+\|>|<(?:eos|bos|pad|unk)>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHATTER = re.compile(
    r"^\s*(sure|here(?:'s| is| are)|certainly|of course|okay|ok[,.!]|the (?:completion|code)|this (?:code|completes)"
    r"|i (?:have|added|completed|will)|to complete|explanation|note:)",
    re.IGNORECASE,
)
# A sentence: a capitalised word, then at least three more words, ending in ":" or ".".
_PROSE = re.compile(r"^[A-Z][a-z]+(?: [A-Za-z'`,]+){3,}[:.]\s*$")
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_QUOTES = "\"'`"


def clean_completion(raw: str, ctx: CompletionContext) -> str:
    """The text to insert at the cursor, made from `raw` (the model's reply after the pre-fill)."""
    if _SPECIAL.search(raw) or CURSOR in raw or _CONTROL.search(raw):
        return ""
    text = _strip_fences_and_chatter(raw)
    if text is None:
        return ""
    text = _drop_repeated_line_start(text, ctx)
    if ctx.mode == "single":
        text = text.split("\n", 1)[0]
    else:
        text = _drop_following_lines(text, ctx)
        text = _reindent(text, ctx)
    text = _drop_suffix_overlap(text, ctx)
    text = _balance_brackets(text, ctx)
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if ctx.mode == "multi":
        text = _drop_following_lines(text, ctx)  # again: cutting at a bracket may have made one
    if ctx.line_prefix.strip() and ctx.line_prefix.endswith((" ", "\t")):
        text = text.lstrip(" \t")  # the cursor already follows a space
    if not text.strip():
        return ""
    return text


def _strip_fences_and_chatter(raw: str) -> str | None:
    """The code of the reply: up to its closing fence, without prose. None if it holds no code."""
    text = raw
    if text.lstrip().startswith(FENCE):
        # The model opened a second fence: its contents start on the next line.
        newline = text.find("\n")
        text = text[newline + 1:] if newline >= 0 else ""
    end = text.find(FENCE)
    if end >= 0:
        before = text[:end]
        if _is_chatter(before):
            # Prose first, then a code block: take the block.
            after = text[end + len(FENCE):]
            newline = after.find("\n")
            body = after[newline + 1:] if newline >= 0 else ""
            close = body.find(FENCE)
            return body[:close] if close >= 0 else body
        text = before
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or _is_chatter(lines[-1])):
        lines.pop()  # a trailing explanation after the code (and blank lines)
    if lines and _is_chatter(lines[0]):
        return None
    return "\n".join(lines)


def _is_chatter(text: str) -> bool:
    first = next((line for line in text.split("\n") if line.strip()), "")
    return bool(_CHATTER.match(first) or _PROSE.match(first)) and not any(ch in first for ch in "(){}[]=;<>")


def _drop_repeated_line_start(text: str, ctx: CompletionContext) -> str:
    head = ctx.line_prefix.strip()
    if head and text.lstrip().startswith(head) and len(head) >= 3:
        stripped = text.lstrip()
        return stripped[len(head):]
    return text


def _following(ctx: CompletionContext) -> list[str]:
    """The non-blank lines after the cursor's line, stripped."""
    rest = ctx.text_after.split("\n")[1:60] if ctx.text_after else ctx.suffix.split("\n")[1:]
    return [line.strip() for line in rest if line.strip()]


def _drop_following_lines(text: str, ctx: CompletionContext) -> str:
    """Cut the reply where it starts repeating what follows the cursor."""
    following = _following(ctx)
    if not following:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if i == 0 and ctx.line_suffix.strip():
            continue
        # The next line of the file, or a run of following lines reaching the reply's end.
        tail = [s for s in (x.strip() for x in lines[i:]) if s]
        if stripped == following[0] or tail == following[: len(tail)]:
            return "\n".join(lines[:i]).rstrip()
    return text


def _reindent(text: str, ctx: CompletionContext) -> str:
    """Put the block at the cursor's indentation, in the file's style, keeping its relative shape.

    Models write a block's indentation either relative to the block (first line at column 0) or as in
    the file; the first line may also leave out the indentation the cursor already has. The base the
    model used is taken from its first line, except that a first line at column 0 after indentation
    the user typed counts as "at the cursor", and the following lines are then read as relative when
    second is indented less than it would be in the file, else as written for the file.
    """
    lines = text.split("\n")
    unit = ctx.indent_unit

    def width(line: str) -> int:
        return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4))

    def indentation(columns: int) -> str:
        if unit == "\t":
            return "\t" * (columns // 4) + " " * (columns % 4)
        return " " * columns

    on_blank_line = not ctx.line_prefix.strip()
    # Lines that begin a line of the file (the first continues the cursor's line unless the cursor
    # sits in a blank line's indentation).
    starts = [i for i, line in enumerate(lines) if line.strip() and (i > 0 or on_blank_line)]
    if not starts:
        return text
    target = len(ctx.indent.expandtabs(4))
    first = starts[0]
    base = width(lines[first])
    others = [width(lines[i]) for i in starts if i != first]
    at_cursor = first == 0 and base == 0 and bool(ctx.line_prefix)
    if at_cursor and others:
        # Where the second line would be if the model wrote the file's indentation.
        expected = target + (len(unit.expandtabs(4)) if opens_block(lines[0], ctx.language) else 0)
        if others[0] >= expected:
            base = target
    out = list(lines)
    for i in starts:
        extra = 0 if (i == first and at_cursor) else width(lines[i]) - base
        out[i] = indentation(max(0, target + extra)) + lines[i].lstrip(" \t")
    if on_blank_line and first == 0:
        # The cursor already has part of the indentation: insert only what is missing.
        typed = ctx.line_prefix
        out[0] = out[0][len(typed):] if out[0].startswith(typed) else out[0].lstrip(" \t")
    return "\n".join(out)


def _drop_suffix_overlap(text: str, ctx: CompletionContext) -> str:
    """Remove the end of the reply that the rest of the cursor's line already holds."""
    rest = ctx.line_suffix.strip()
    if not rest:
        return text
    head = text.split("\n", 1)[0] if "\n" in text else text
    tail = text[len(head):]
    if head.rstrip().endswith(rest):
        return head.rstrip()[: -len(rest)] + tail
    # Part of the rest made of closers and punctuation only: `foo(a, b)` before `)`.
    for k in range(len(rest), 0, -1):
        piece = rest[:k]
        if head.rstrip().endswith(piece) and all(ch in ")]}>;,:'\"` " for ch in piece):
            return head.rstrip()[: -len(piece)] + tail
    return text


def _balance_brackets(text: str, ctx: CompletionContext) -> str:
    """Cut at a closer that closes nothing; close "(" and "[" a single line leaves open."""
    open_before = _open_brackets(ctx.line_prefix)
    stack: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in _QUOTES:
            quote = ch
        elif ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if stack and stack[-1] == _CLOSE[ch]:
                stack.pop()
            elif not stack and open_before and open_before[-1] == _CLOSE[ch]:
                open_before.pop()  # closes a bracket the line opened before the cursor
            else:
                return text[:i].rstrip()
        elif ch == "\n":
            quote = ""  # strings do not span lines in what we check
        i += 1
    if ctx.mode == "single" and stack and all(b in "([" for b in stack):
        closers = "".join(_OPEN[b] for b in reversed(stack))
        if not ctx.line_suffix.strip().startswith(closers):
            text += closers
    return text


def _open_brackets(line: str) -> list[str]:
    stack: list[str] = []
    quote = ""
    for ch in line:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in _QUOTES:
            quote = ch
        elif ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE and stack and stack[-1] == _CLOSE[ch]:
            stack.pop()
    return stack
