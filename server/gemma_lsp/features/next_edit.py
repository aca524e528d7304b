"""Next-edit prediction: from the user's recent edits, the edit they will make next near the cursor.

The model sees the recent edits (unified diffs, context/edit_history.py), the same related code as a
completion (context/builder.py: enclosing scopes, imports, definitions of the names near the cursor,
recently edited places), the file around the cursor, and an editable window of about 30 lines with
the cursor marked. It rewrites the window; the rewrite copies most of its input, so prompt-lookup
drafting verifies long copied spans at once (engine/drafting.py, purpose "next_edit").

The rewrite becomes an edit by `smallest_edit` (the common prefix and suffix of the window and the
rewrite stay; the edit is what lies between), which `reject_reason` then checks as strictly as
completions are cleaned: a rewrite that was cut short, an edit that only changes whitespace, or one
that deletes lines of code it does not replace is no suggestion. A prediction is for the document
version it was asked for: when the document changed meanwhile, there is none.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gemma_lsp.context.builder import ContextBuilder, ContextPart, Position
from gemma_lsp.context.documents import DocumentStore, UnknownDocument
from gemma_lsp.engine.base import CancelToken, Engine, GenerationRequest, Priority

PURPOSE = "next_edit"
WINDOW_LINES_BEFORE = 10  # the editable window: this many lines above the cursor's line ...
WINDOW_LINES_AFTER = 20  # ... and this many below (about 30 lines in all)
CONTEXT_LINES_BEFORE = 30  # read-only file lines shown above the window
CONTEXT_LINES_AFTER = 15  # and below it
MAX_REWRITE_TOKENS = 2048
MIN_SIMILARITY = 0.5  # a replaced block and its replacement share at least this much (difflib's ratio)

CURSOR = "<CURSOR>"
START = "<EDITABLE>"
END = "</EDITABLE>"
FENCE = "```"

SYSTEM = (
    "You are a code editing engine inside an editor. You see the user's recent edits as unified diffs, "
    f"related code from the project, and the file around the cursor with an editable region between {START} "
    f"and {END} and the cursor marked {CURSOR}. Predict the edit the user will make next in the editable "
    "region: the one their recent edits call for, such as a rename carried on to the next use, a new argument "
    "added at a call, or the matching change in a similar branch. Reply with one fenced code block holding the "
    f"whole editable region with that edit made and every other line exactly as it is, without {START}, {END} "
    f"and {CURSOR}. If no edit is called for, reply with the region unchanged."
)
INSTRUCTION = f"Rewrite the region between {START} and {END} with the user's next edit."

_TITLES = {
    "imports": "Imports of this file",
    "scopes": "Enclosing definition",
    "definition": "Definition",
    "recent": "Recently edited or viewed",
}
_IDENTIFIER = re.compile(r"\w")


@dataclass
class NextEditPrompt:
    """Everything the model is shown for one prediction, and where the window lies in the document."""

    uri: str
    path: str
    language: str | None
    version: int
    window_start: int  # code-point offsets of the editable window in the document (whole lines,
    window_end: int  # the last line's break excluded)
    window: str
    cursor: int  # offset of the cursor in the document
    first_line: int  # 0-based line of the window's first line
    above: str  # read-only lines before the window (with their final line break)
    below: str  # read-only lines after the window (with the line break before them)
    edits: list[str]
    parts: list[ContextPart] = field(default_factory=list)

    @property
    def fence(self) -> str:
        return self.language or ""


@dataclass
class NextEdit:
    """A predicted edit: document[start:end] (code-point offsets) becomes `new_text`, for `version`."""

    start: int
    end: int
    new_text: str
    label: str
    version: int


def build_prompt(builder: ContextBuilder, store: DocumentStore, uri: str, position: Position,
                 edits: list[str], budget_tokens: int) -> NextEditPrompt:
    """The prompt parts for a prediction at `position` in open document `uri`."""
    doc = store.get(uri)
    if doc is None:
        raise UnknownDocument(f"not an open document: {uri}")
    lines = doc.lines
    cursor = lines.offset_at(position.line, position.character, store.encoding)
    line = lines.line_of(cursor)
    count = len(lines.starts)
    first = max(0, line - WINDOW_LINES_BEFORE)
    last = min(count - 1, line + WINDOW_LINES_AFTER)
    if last > line and last == count - 1 and not lines.line_text(last):
        last -= 1  # the empty "line" after the text's final line break is not one to edit
    window_start, window_end = lines.starts[first], lines.line_end(last)
    above_start = lines.starts[max(0, first - CONTEXT_LINES_BEFORE)]
    below_end = lines.line_end(min(count - 1, last + CONTEXT_LINES_AFTER))
    # The related parts a completion here would get (the file around the cursor is shown whole here).
    ctx = builder.build(uri, position, budget_tokens)
    parts = [part for part in ctx.parts if part.source not in ("prefix", "suffix")
             and not part.taken_from(uri, first - CONTEXT_LINES_BEFORE, last + CONTEXT_LINES_AFTER)]
    return NextEditPrompt(
        uri=uri, path=uri.removeprefix("file://"), language=doc.language, version=doc.version,
        window_start=window_start, window_end=window_end, window=doc.text[window_start:window_end],
        cursor=cursor, first_line=first, above=doc.text[above_start:window_start],
        below=doc.text[window_end:below_end], edits=list(edits), parts=parts,
    )


def messages(prompt: NextEditPrompt) -> tuple[list[dict], str]:
    """Gemma 4 chat messages for the prediction, and the pre-fill of the model's turn (an open fence)."""
    fence = prompt.fence
    sections = [f"{_TITLES.get(p.source, p.source)}{f' ({p.origin})' if p.origin else ''}:\n"
                f"{FENCE}{fence}\n{p.text}\n{FENCE}" for p in prompt.parts]
    if prompt.edits:
        diffs = "\n".join(edit.rstrip("\n") for edit in prompt.edits)
        sections.append(f"Recent edits (oldest first):\n{FENCE}diff\n{diffs}\n{FENCE}")
    else:
        sections.append("Recent edits: none.")
    offset = prompt.cursor - prompt.window_start
    window = prompt.window[:offset] + CURSOR + prompt.window[offset:]
    below = prompt.below if prompt.below.endswith("\n") or not prompt.below else prompt.below + "\n"
    code = f"{prompt.above}{START}\n{window}\n{END}{below}"
    code = code if code.endswith("\n") else code + "\n"
    sections.append(f"File: {prompt.path} ({prompt.language or 'plain text'})\n{FENCE}{fence}\n{code}{FENCE}")
    sections.append(INSTRUCTION)
    return ([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(sections)}],
            f"{FENCE}{fence}\n")


def parse_rewrite(reply: str) -> str:
    """The rewritten window from the model's reply (the text after the pre-filled open fence): up to the
    closing fence, without the markers the model may have copied and without the final line break."""
    text = reply.split(FENCE, 1)[0]
    text = text.replace(CURSOR, "")
    if text.startswith(START):
        text = text[len(START):].removeprefix("\n")
    text = text.removesuffix("\n")
    if text.endswith(END):
        text = text[: -len(END)].removesuffix("\n")
    return text


def smallest_edit(window: str, rewrite: str) -> tuple[int, int, str] | None:
    """(start, end, new_text) with window[:start] + new_text + window[end:] == rewrite and the kept
    prefix and suffix as long as possible; None when the rewrite is the window."""
    if window == rewrite:
        return None
    limit = min(len(window), len(rewrite))
    start = 0
    while start < limit and window[start] == rewrite[start]:
        start += 1
    tail = 0
    while tail < limit - start and window[-1 - tail] == rewrite[-1 - tail]:
        tail += 1
    return start, len(window) - tail, rewrite[start:len(rewrite) - tail]


def reject_reason(window: str, rewrite: str) -> str | None:
    """Why the rewrite of `window` must not be suggested, or None when it may."""
    if window == rewrite:
        return "no change"
    if "".join(window.split()) == "".join(rewrite.split()):
        return "only whitespace changes"
    old_lines, new_lines = window.split("\n"), rewrite.split("\n")
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        removed = [line for line in old_lines[a0:a1] if line.strip()]
        added = [line for line in new_lines[b0:b1] if line.strip()]
        if tag in ("delete", "replace") and len(removed) > len(added):
            return f"deletes code it does not replace (line {a0 + 1} of the window)"
        if tag == "replace" and removed and _similarity(removed, added) < MIN_SIMILARITY:
            # A next edit changes the code that is there (a name, an argument); a block replaced by
            # unrelated text is a model that lost the thread (or answered for another file).
            return f"replaces code with unrelated code (line {a0 + 1} of the window)"
    return None


def _similarity(old: list[str], new: list[str]) -> float:
    return difflib.SequenceMatcher(a="\n".join(old), b="\n".join(new), autojunk=False).ratio()


def label_for(window: str, start: int, end: int, new_text: str, first_line: int) -> str:
    """A short description: `line 12: count → total` (whole words around the change), else the lines."""
    word_start, word_end = start, end
    while word_start > 0 and _IDENTIFIER.match(window[word_start - 1]):
        word_start -= 1
    while word_end < len(window) and _IDENTIFIER.match(window[word_end]):
        word_end += 1
    old = window[word_start:word_end]
    new = window[word_start:start] + new_text + window[end:word_end]
    line = first_line + window.count("\n", 0, start) + 1
    if "\n" not in old and "\n" not in new and len(old) <= 40 and len(new) <= 40:
        if not old.strip():
            return f"line {line}: insert {new.strip()}"
        if not new.strip():
            return f"line {line}: delete {old.strip()}"
        return f"line {line}: {old.strip()} → {new.strip()}"
    last = first_line + window.count("\n", 0, max(start, end - 1)) + 1
    return f"line {line}: edit" if last == line else f"lines {line}–{last}: edit"


def to_edit(prompt: NextEditPrompt, rewrite: str) -> tuple[NextEdit | None, str]:
    """The document edit a rewrite of the window makes, or None and why not."""
    # The model may drop or add blank lines at the window's end (where its fence closes): they are not
    # part of the edit.
    rewrite = rewrite.rstrip("\n") + prompt.window[len(prompt.window.rstrip("\n")):]
    reason = reject_reason(prompt.window, rewrite)
    if reason is not None:
        return None, reason
    found = smallest_edit(prompt.window, rewrite)
    assert found is not None  # reject_reason ruled out an unchanged window
    start, end, new_text = found
    label = label_for(prompt.window, start, end, new_text, prompt.first_line)
    return NextEdit(prompt.window_start + start, prompt.window_start + end, new_text, label, prompt.version), ""


def request_for(prompt: NextEditPrompt, count_tokens: Callable[[str], int], cancel: CancelToken | None = None) -> GenerationRequest:
    """The engine request: at completion priority, superseded by the next request for the document."""
    chat, prefill = messages(prompt)
    return GenerationRequest(
        cancel=cancel or CancelToken(),
        messages=chat,
        prefill=prefill,
        # The rewrite is the window again: room for it twice over, so a cut-off means a runaway reply.
        max_new_tokens=min(MAX_REWRITE_TOKENS, 2 * count_tokens(prompt.window) + 64),
        priority=Priority.INTERACTIVE,
        purpose=PURPOSE,
        supersede_key=f"{PURPOSE}:{prompt.uri}",
        stop=[FENCE],
    )


@dataclass
class Prediction:
    """A prediction's outcome: the edit (or None), why there is none, and the prompt it came from."""

    edit: NextEdit | None
    reason: str
    prompt: NextEditPrompt
    reply: str = ""


async def predict(engine: Engine, builder: ContextBuilder, store: DocumentStore, uri: str, position: Position,
                  version: int | None, budget_tokens: int, cancel: CancelToken | None = None) -> Prediction:
    """Predict the next edit near `position` from the document's recorded edits. Raises Cancelled when a
    newer request superseded this one, UnknownDocument when `uri` is not open."""
    doc = store.get(uri)
    if doc is None:
        raise UnknownDocument(f"not an open document: {uri}")
    edits = store.history.diffs_elsewhere(uri, _label) + store.history.diffs(uri, _label(uri))
    prompt = build_prompt(builder, store, uri, position, edits, budget_tokens)
    if version is not None and version != prompt.version:
        # The client's text is not the server's (a change still on its way, or already past it).
        return Prediction(None, f"asked for version {version}, the document is at {prompt.version}", prompt)
    return await predict_from(engine, store, prompt, cancel)


async def predict_from(engine: Engine, store: DocumentStore | None, prompt: NextEditPrompt,
                       cancel: CancelToken | None = None) -> Prediction:
    """Run the model on a built prompt and turn its rewrite into an edit (the CLI passes no store)."""
    result = await engine.generate(request_for(prompt, engine.count_tokens, cancel))  # raises Cancelled
    if result.finish_reason == "length":
        return Prediction(None, "the rewrite was cut off at the length limit", prompt, result.text)
    edit, reason = to_edit(prompt, parse_rewrite(result.text))
    current = store.get(prompt.uri) if store is not None else None
    if edit is not None and store is not None and (current is None or current.version != prompt.version):
        return Prediction(None, "the document changed while predicting", prompt, result.text)
    return Prediction(edit, reason, prompt, result.text)


def _label(uri: str) -> str:
    """A file's name in diff headers: its last path component keeps prompts short and stable."""
    return uri.rstrip("/").rsplit("/", 1)[-1]
