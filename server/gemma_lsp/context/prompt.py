"""The completion prompt. Gemma 4 has no fill-in-the-middle tokens, so a completion is a chat: the
system turn says what to do, the user turn shows the related code and the file with a <CURSOR> marker,
and the model's turn is pre-filled with an opening code fence, so its reply is the code itself."""

from __future__ import annotations

from collections.abc import Callable

from gemma_lsp.gemma4 import tokens

from .parts import CompletionContext, ContextPart

# The chat template's own text around the two turns and the generation prompt (the 26B/31B variant
# adds an empty thought to it), which the context budget must leave room for.
_TURN_MARKERS = "".join(f"{tokens.TURN_OPEN}{role}\n{tokens.TURN_CLOSE}\n" for role in ("system", "user")) \
    + f"{tokens.TURN_OPEN}model\n{tokens.EMPTY_THOUGHT}"

CURSOR = "<CURSOR>"
FENCE = "```"
MAX_MULTI_LINES = 40

SYSTEM = (
    "You are a code completion engine inside an editor. You see a file with the cursor marked "
    f"{CURSOR} and related code from the project. Reply with one fenced code block holding exactly the "
    f"text to insert at {CURSOR}: no explanation, and never repeat code that comes before or after "
    f"{CURSOR}."
)
SINGLE = f"Complete the line at {CURSOR}: write only the rest of that line."
MULTI = (f"Complete the code at {CURSOR}: write the lines that belong there, indented like the "
         "surrounding code, and stop at the end of that block.")

_TITLES = {
    "imports": "Imports of this file",
    "scopes": "Enclosing definition",
    "definition": "Definition",
    "recent": "Recently edited or viewed",
}


def overhead_text(language: str | None, path: str = "x") -> str:
    """The prompt's own text around the file and the parts, which the context budget must leave room
    for (the chat template's turn markers included)."""
    return "\n".join([SYSTEM, MULTI, f"File: {path} ({language or 'plain text'})", f"{FENCE}{language or ''}",
                      CURSOR, FENCE, _TURN_MARKERS,
                      f"{FENCE}{language or ''}"])


def section_header(part: ContextPart, fence: str) -> str:
    """The text the prompt puts around one related part."""
    where = f" ({part.origin})" if part.origin else ""
    return f"{_TITLES.get(part.source, part.source)}{where}:\n{FENCE}{fence}\n\n{FENCE}\n\n"


def _section(part: ContextPart, fence: str) -> str:
    where = f" ({part.origin})" if part.origin else ""
    return f"{_TITLES.get(part.source, part.source)}{where}:\n{FENCE}{fence}\n{part.text}\n{FENCE}"


def completion_messages(ctx: CompletionContext) -> tuple[list[dict], str]:
    """Gemma 4 chat messages for a completion at `ctx`, and the text to pre-fill the model's turn with."""
    fence = ctx.fence
    extras = [_section(part, fence) for part in ctx.parts if part.source not in ("prefix", "suffix")]
    code = f"{ctx.prefix}{CURSOR}{ctx.suffix}"  # the file block that overhead_text() accounts for
    newline = "" if code.endswith("\n") else "\n"
    file_block = f"File: {ctx.path} ({ctx.language or 'plain text'})\n{FENCE}{fence}\n{code}{newline}{FENCE}"
    user = "\n\n".join([*extras, file_block, SINGLE if ctx.mode == "single" else MULTI])
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return messages, f"{FENCE}{fence}\n"


def _width(line: str) -> int:
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4))


def stop_check_for(ctx: CompletionContext) -> Callable[[str], int | None]:
    """An early stop for the text generated after the pre-fill: the index to cut it at, or None.

    Both modes stop at a closing fence. "single" stops at the end of the line. "multi" stops before a
    line indented less than the block being written, at a run of two blank lines, at a blank line
    followed by a new top-level statement when writing at the top level, and after MAX_MULTI_LINES.
    """
    base = len(ctx.indent.expandtabs(4))

    def opening(text: str) -> int:
        """Where the code starts: after a second opening fence, if the model wrote one."""
        if not text.startswith(FENCE):
            return 0
        newline = text.find("\n")
        return newline + 1 if newline >= 0 else len(text)

    def fence_at(text: str) -> int | None:
        index = text.find(FENCE, opening(text))
        return index if index >= 0 else None

    def single(text: str) -> int | None:
        start = opening(text)
        if start == len(text):
            return None
        cuts = [i for i in (fence_at(text), text.find("\n", start)) if i is not None and i >= 0]
        return min(cuts) if cuts else None

    def multi(text: str) -> int | None:
        fence = fence_at(text)
        lines = text[:fence].split("\n") if fence is not None else text.split("\n")
        complete = lines if fence is not None else lines[:-1]  # the last line may still grow
        position = 0
        seen_code = False
        for i, line in enumerate(complete):
            blank = not line.strip()
            if i > 0 and not blank:
                if _width(line) < base:
                    return max(0, position - 1)
                if base == 0 and seen_code and _width(line) == 0 and not complete[i - 1].strip():
                    return max(0, position - 1)
            if i > 0 and blank and i + 1 < len(complete) and not complete[i + 1].strip():
                return max(0, position - 1)
            if i >= MAX_MULTI_LINES:
                return max(0, position - 1)
            seen_code = seen_code or not blank
            position += len(line) + 1
        return fence

    return single if ctx.mode == "single" else multi

