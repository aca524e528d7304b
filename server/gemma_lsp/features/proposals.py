"""A proposed edit as the user reviews it before anything is applied: `Proposal {edit, diff, summary}`.

One representation for every feature that proposes changes (`gemma.fix` with `preview`, `gemma.debug`),
so every client renders the same thing (docs/protocol.md, "Proposed edits"): `edit` is the
WorkspaceEdit a client applies when the user accepts, `diff` a unified diff of every file it changes
(`--- a/<path>` / `+++ b/<path>`, paths relative to the workspace, 3 lines of context), `summary` a
line such as "1 change in calc.py".

Pure: callers pass the texts before and after and the paths as the user knows them (lsp/proposals.py
turns an LSP WorkspaceEdit into a proposal). Line breaks are
LSP's (`\\n`, `\\r\\n`, a lone `\\r`); the diff is written with `\\n` whatever the file uses, since it is
for reading, and says "\\ No newline at end of file" where a side has none, as diff and git do.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemma_lsp.agent.edits import FixRefused, Snapshot, SnapshotSource, locate_blocks
from gemma_lsp.context.positions import lines_with_breaks

log = logging.getLogger(__name__)

CONTEXT_LINES = 3
NO_NEWLINE = "\\ No newline at end of file"


@dataclass(frozen=True)
class FileChange:
    """One file an edit changes."""

    path: str  # relative to the workspace, "/"-separated (the file's name when it lies outside)
    before: str
    after: str
    changes: int  # how many separate changes (TextEdits) the edit makes to it


@dataclass(frozen=True)
class Proposal:
    edit: Any  # the WorkspaceEdit as JSON, passed through untouched
    diff: str
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {"edit": self.edit, "diff": self.diff, "summary": self.summary}


def propose(edit: Any, files: Sequence[FileChange]) -> Proposal:
    """The proposal for `edit`, which turns each file's `before` into its `after`."""
    return Proposal(edit, "".join(unified_diff(f.path, f.before, f.after) for f in files), summarize(files))


def summarize(files: Sequence[FileChange]) -> str:
    """ "1 change in calc.py", "3 changes in calc.py and util.py", "4 changes in a.py, b.py and c.py"."""
    count = sum(f.changes for f in files)
    names = [f.path for f in files]
    where = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{count} change{'s' if count != 1 else ''} in {where}"


def unified_diff(path: str, before: str, after: str, context: int = CONTEXT_LINES) -> str:
    """A unified diff of one file ("" when nothing changes), each line ending in "\\n"."""
    old, new = _lines(before), _lines(after)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        if not out:
            out += [f"--- a/{path}", f"+++ b/{path}"]
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += _marked(" ", old[i1:i2])
                continue
            out += _marked("-", old[i1:i2])
            out += _marked("+", new[j1:j2])
    return "".join(line + "\n" for line in out)


def _lines(text: str) -> list[tuple[str, bool]]:
    """(line without its break, whether a break follows): a last line without one differs from the same
    line with one, as it does for diff."""
    return [(line.rstrip("\r\n"), line.endswith(("\n", "\r"))) for line in lines_with_breaks(text)]


def _marked(sign: str, lines: Sequence[tuple[str, bool]]) -> list[str]:
    out = []
    for text, has_break in lines:
        out.append(sign + text)
        if not has_break:
            out.append(NO_NEWLINE)
    return out


def _range(start: int, stop: int) -> str:
    """A hunk's line range as unified diffs write it (1-based; an empty range names the line before)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


# ------------------------------------------------------- SEARCH/REPLACE blocks shown as diffs

@dataclass(frozen=True)
class BlockView:
    """How one SEARCH/REPLACE block of an answer is shown instead of its raw markers."""

    lines: tuple[int, int]  # the answer's lines of the block's SEARCH and REPLACE markers
    diff: str = ""  # the change it makes, as a unified diff; "" when it could not be placed
    note: str = ""  # why it could not be applied
    intent: str = ""  # when it could not: what it wanted, as -/+ lines


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def intent_of(search: str, replace: str) -> str:
    """A block the server could not place, shown as the lines it removes and adds (no line numbers)."""
    lines = [f"-{s}" for s in search.splitlines()] + [f"+{s}" for s in replace.splitlines()]
    return "".join(line + "\n" for line in lines)


def recording(source: SnapshotSource, seen: dict[str, Snapshot]) -> SnapshotSource:
    """`source`, remembering each snapshot it gives (by URI) and giving the same one again: the texts an
    edit is computed on, for its diff."""

    def snapshot_of(path: Path) -> Snapshot:
        for snapshot in seen.values():
            if snapshot.path is not None and snapshot.path == path:
                return snapshot
        snapshot = source(path)
        seen[snapshot.uri] = snapshot
        return snapshot

    return snapshot_of


def answer_with_diffs(answer: str, workspace: Path, default: Snapshot, snapshot_of: SnapshotSource,
                      display: Callable[[Snapshot], str]) -> str:
    """The answer with each SEARCH/REPLACE block shown as the diff of what it changes, or a note (and
    what it wanted) where it could not be placed. `display` names a file as the user knows it."""
    try:
        located = locate_blocks(answer, workspace, default, snapshot_of)
    except FixRefused as refusal:  # e.g. an unclosed block: nothing can be placed, leave the text
        log.info("debug answer left as written: %s", refusal)
        return answer
    views = []
    for item in located:
        block = item.block
        if item.snapshot is None or item.span is None:
            name = block.path or display(default)
            problem = item.problem.removeprefix("no usable fix: ")
            views.append(BlockView(block.lines, note=f"This change to {name} could not be applied: {problem}.",
                                   intent=intent_of(block.search, block.replace)))
            continue
        start, end, new = item.span
        text = item.snapshot.text
        diff = unified_diff(display(item.snapshot), text, text[:start] + new + text[end:])
        views.append(BlockView(block.lines, diff=diff, note="" if diff else "This change changes nothing."))
    return replace_blocks(answer, views, [item.block.path for item in located])


def replace_blocks(answer: str, views: Sequence[BlockView], paths: Sequence[str | None] = ()) -> str:
    """`answer` with each SEARCH/REPLACE block (with the file name line and the code fence around it)
    replaced by a ```diff block of the change it makes, or by a note and what it wanted.

    `paths` are the file names the model wrote before each block (removed with it: the diff names
    the file); a fence holding several blocks is replaced as a whole.
    """
    lines = answer.splitlines()
    regions = _regions(lines, [v.lines for v in views], paths)
    out: list[str] = []
    at = 0
    for (start, end), members in regions:
        out += lines[at:start]
        out.append("\n\n".join(_render(views[i]) for i in members))
        at = end + 1
    out += lines[at:]
    return "\n".join(out)


def _render(view: BlockView) -> str:
    if view.diff:
        return f"```diff\n{view.diff}```"
    return f"_{view.note}_\n\n```diff\n{view.intent}```" if view.intent else f"_{view.note}_"


def _regions(lines: list[str], spans: Sequence[tuple[int, int]],
             paths: Sequence[str | None]) -> list[tuple[tuple[int, int], list[int]]]:
    """Line regions (first, last) to replace, each with the blocks it holds."""
    regions: list[tuple[tuple[int, int], list[int]]] = []
    open_fence = False  # the current region began with a fence not yet closed
    for i, (search, replace) in enumerate(spans):
        start, fenced = _region_start(lines, search, paths[i] if i < len(paths) else None,
                                      regions[-1][0][1] if regions else -1)
        if regions and open_fence and not any(s.strip() for s in lines[regions[-1][0][1] + 1:start]):
            (first, _), members = regions.pop()  # another block inside the same fence
            start, fenced = first, True
            members.append(i)
        else:
            members = [i]
        end = replace
        after = replace + 1
        open_fence = fenced
        if fenced and after < len(lines) and _FENCE.match(lines[after]):
            end, open_fence = after, False
        regions.append(((start, end), members))
    return regions


def _region_start(lines: list[str], search: int, path: str | None, floor: int) -> tuple[int, bool]:
    """Where a block's region starts: its SEARCH line, or earlier to take in the file name line and an
    opening fence just before it (at most three lines back, blank lines between allowed)."""
    start, fenced, named = search, False, path is None
    j = search - 1
    while j > floor and search - j <= 3:
        text = lines[j].strip()
        if not fenced and _FENCE.match(lines[j]):
            start, fenced = j, True
        elif not named and path is not None and path in text:
            start, named = j, True
        elif text:
            break
        j -= 1
    return start, fenced
