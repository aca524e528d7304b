"""Turning a model's proposed fix into a versioned WorkspaceEdit that applies to the current text.

Two reply formats, both widely seen in code models' training data:

- a **region fix** (code actions): the prompt shows the lines to fix; the model replies with their
  corrected version in one fenced code block. The block replaces exactly those lines.
- **SEARCH/REPLACE blocks** (ask to debug, which may touch any file of the workspace):

      path/to/file.py
      <<<<<<< SEARCH
      exact lines from the file
      =======
      the lines to put instead
      >>>>>>> REPLACE

Everything a model writes is untrusted: a block must name a file inside the workspace, its SEARCH part
must match exactly one place of the file's current text (trailing spaces and a uniform indentation
shift are forgiven), blocks may not overlap, and a Python file that compiled before must still compile.
Any failure raises `FixRefused` with a message for the user; nothing is ever half applied, because the
server only returns the edit and the editor applies it (or not) as a whole, and the edit is pinned to
the document version it was computed from.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as lsp

from gemma_lsp.context.languages import language_for
from gemma_lsp.context.positions import LineIndex, check_encoding, line_starts, lines_with_breaks, split_lines

# What every fix is: LSP's edit type, named here so the feature services need no lsprotocol import.
WorkspaceEdit = lsp.WorkspaceEdit


class FixRefused(Exception):
    """The proposed fix cannot be used; `str(exc)` says why, for the user."""


@dataclass(frozen=True)
class Snapshot:
    """A document's text as of `version` (None for a file not open in the editor, read from disk), and
    the position encoding negotiated with the client, in which the edits computed on it are written."""

    uri: str
    text: str
    version: int | None
    path: Path | None = None
    language_id: str = ""
    encoding: str = field(kw_only=True)

    def __post_init__(self) -> None:
        check_encoding(self.encoding)


@dataclass(frozen=True)
class SearchReplace:
    path: str | None  # as the model wrote it; None when the block named no file
    search: str
    replace: str
    lines: tuple[int, int] = (0, 0)  # the reply's lines (0-based) of its SEARCH and REPLACE markers


# ---------------------------------------------------------------------------------------- positions
# All mapping between offsets and LSP positions is context.positions' (one line-break rule, the
# snapshot's encoding); these helpers only cut a text into whole lines.

def line_span(text: str, first: int, last: int) -> tuple[int, int]:
    """Offsets covering whole lines first..last (0-based, inclusive), including the last line break."""
    starts = line_starts(text)
    first = max(0, min(first, len(starts) - 1))
    last = max(first, min(last, len(starts) - 1))
    end = starts[last + 1] if last + 1 < len(starts) else len(text)
    return starts[first], end


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# ------------------------------------------------------------------------------------ applying edits

def apply_text_edits(text: str, edits: Sequence[lsp.TextEdit], encoding: str) -> str:
    """Apply non-overlapping TextEdits (all relative to `text`, columns in `encoding`) the way an
    editor does."""
    index = LineIndex(text)
    spans = sorted(((index.offset(e.range.start, encoding), index.offset(e.range.end, encoding), e.new_text)
                    for e in edits), key=lambda s: s[0])
    out, at = [], 0
    for start, end, new in spans:
        if start < at:
            raise FixRefused("the proposed changes overlap")
        out += [text[at:start], new]
        at = end
    out.append(text[at:])
    return "".join(out)


def text_edit(index: LineIndex, start: int, end: int, new_text: str, encoding: str) -> lsp.TextEdit:
    """The TextEdit replacing index.text[start:end] by `new_text`."""
    return lsp.TextEdit(range=lsp.Range(start=index.position(start, encoding), end=index.position(end, encoding)),
                        new_text=new_text)


def document_edit(snapshot: Snapshot, edits: list[lsp.TextEdit]) -> lsp.TextDocumentEdit:
    """Edits pinned to the snapshot's version: an editor refuses them if the document changed since."""
    return lsp.TextDocumentEdit(
        text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=snapshot.uri, version=snapshot.version),
        edits=list(edits))


def edit_files(edit: lsp.WorkspaceEdit) -> list[str]:
    return [c.text_document.uri for c in edit.document_changes or [] if isinstance(c, lsp.TextDocumentEdit)]


def describe_edit(edit: lsp.WorkspaceEdit) -> str:
    """What an edit changes, for the user: "Proposed edit: 2 changes in app.py, util.py."."""
    changes = [c for c in edit.document_changes or [] if isinstance(c, lsp.TextDocumentEdit)]
    files = [Path(c.text_document.uri).name for c in changes]
    count = sum(len(c.edits) for c in changes)
    return f"Proposed edit: {count} change{'s' if count != 1 else ''} in {', '.join(files)}."


# --------------------------------------------------------------------------------------- region fix

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[^\n`]*\n", re.MULTILINE)


def extract_code_block(reply: str) -> str:
    """The content of the first fenced code block of a reply. Raises FixRefused if there is none."""
    opening = _FENCE.search(reply)
    if opening is None:
        raise FixRefused("no usable fix: the model's reply has no code block")
    fence = opening.group("fence")
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
    end = closing.search(reply, opening.end())
    if end is None:
        raise FixRefused("no usable fix: the model's reply ended before its code block was closed")
    return reply[opening.end():end.start()]


def region_fix(snapshot: Snapshot, first_line: int, last_line: int, reply: str) -> lsp.WorkspaceEdit:
    """A versioned edit turning lines first..last (0-based, inclusive) into the reply's code block.

    The edit is minimal: one TextEdit per run of lines that differ (a line diff of the old region and
    the block), so the editor keeps its marks, folds and undo granularity on every other line. Blank
    lines at the region's edges stay: a model's block leaves them out (or adds some) whatever it means
    to change, so edge blank lines carry no intent.
    """
    code = extract_code_block(reply)
    start, end = line_span(snapshot.text, first_line, last_line)
    old_lines = split_lines(snapshot.text[start:end])
    lines = split_lines(code)
    before = split_lines(snapshot.text[:start])[-3:]
    after = split_lines(snapshot.text[end:])[:3]
    lines = _trim_echoed_context(lines, before, after)
    lines = _reindent(lines, old_lines)
    lead, trail = _blank_edges(old_lines)
    core = old_lines[lead:len(old_lines) - trail]
    new_lines = lines[slice(*_core_of(lines))]
    index = LineIndex(snapshot.text)
    first = index.line_of(start)  # first_line, clamped to the file
    edits = line_diff_edits(index, first + lead, core, new_lines, snapshot.encoding)
    if not edits or _normalize("\n".join(new_lines)) == _normalize("\n".join(core)):
        raise FixRefused("no usable fix: the model proposed no change to these lines")
    _check_still_compiles(snapshot, apply_text_edits(snapshot.text, edits, snapshot.encoding))
    return lsp.WorkspaceEdit(document_changes=[document_edit(snapshot, edits)])


def _blank_edges(lines: list[str]) -> tuple[int, int]:
    """How many blank lines the list starts and ends with (all of them count as leading)."""
    lead = next((i for i, s in enumerate(lines) if s.strip()), len(lines))
    trail = next((i for i, s in enumerate(reversed(lines)) if s.strip()), len(lines) - lead)
    return lead, trail


def _core_of(lines: list[str]) -> tuple[int, int]:
    lead, trail = _blank_edges(lines)
    return lead, len(lines) - trail


def line_diff_edits(index: LineIndex, first_line: int, old: list[str], new: list[str],
                    encoding: str) -> list[lsp.TextEdit]:
    """TextEdits turning the lines `old` (without line endings, starting at `first_line` of
    `index.text`) into `new`, touching only the runs of lines that differ. Lines equal but for
    trailing spaces count as equal and are left alone."""
    text, starts = index.text, index.starts
    nl = newline_of(text)
    matcher = difflib.SequenceMatcher(None, [s.rstrip() for s in old], [s.rstrip() for s in new],
                                      autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a = _line_offset(text, starts, first_line + i1)
        b = _line_offset(text, starts, first_line + i2)
        replacement = "".join(line + nl for line in new[j1:j2])
        if b == len(text) and text and not text.endswith(("\n", "\r")):
            # The run reaches the file's last line, which has no line break: neither may the result
            # (lines added after it need one before them; deleting it takes the break before it).
            if not replacement:
                a -= 2 if text[max(0, a - 2):a] == "\r\n" else 1 if a else 0
            else:
                replacement = replacement[:-len(nl)] if a < b else nl + replacement[:-len(nl)]
        edits.append(text_edit(index, a, b, replacement, encoding))
    return edits


def _line_offset(text: str, starts: Sequence[int], line: int) -> int:
    return starts[line] if line < len(starts) else len(text)


def _normalize(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _trim_echoed_context(lines: list[str], before: list[str], after: list[str]) -> list[str]:
    """Drop context lines the model repeated around its fix (it was shown them, and may copy them)."""
    for k in range(min(len(before), len(lines)), 0, -1):
        echoed = [s.rstrip() for s in lines[:k]] == [s.rstrip() for s in before[-k:]]
        if echoed and any(s.strip() for s in before[-k:]):
            lines = lines[k:]
            break
    for k in range(min(len(after), len(lines)), 0, -1):
        echoed = [s.rstrip() for s in lines[-k:]] == [s.rstrip() for s in after[:k]]
        if echoed and any(s.strip() for s in after[:k]):
            lines = lines[:-k]
            break
    return lines


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _reindent(lines: list[str], original: list[str]) -> list[str]:
    """Restore the original indentation when the model dedented the whole region (a common habit)."""
    old = next((_indent(s) for s in original if s.strip()), "")
    new = next((_indent(s) for s in lines if s.strip()), "")
    if not old or new or not any(s.strip() for s in lines):
        return lines
    return [old + s if s.strip() else s for s in lines]


def _check_still_compiles(snapshot: Snapshot, new_text: str) -> None:
    """Refuse a Python fix that breaks a file that compiled (a cheap guard against garbled replies)."""
    if "python" not in (language_for(snapshot.language_id), language_for(None, snapshot.uri)):
        return
    try:
        ast.parse(snapshot.text)
    except (SyntaxError, ValueError):
        return  # it did not compile before (perhaps that is the bug): no guard possible
    try:
        ast.parse(new_text)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        raise FixRefused(f"no usable fix: the proposed change would not compile{where}: {exc.msg}") from exc
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise FixRefused(f"no usable fix: the proposed change would not compile: {exc}") from exc


# ------------------------------------------------------------------------------ SEARCH/REPLACE fix

_SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")


def parse_search_replace(reply: str) -> list[SearchReplace]:
    """All SEARCH/REPLACE blocks of a reply, each with the file named on the line before it."""
    lines = reply.splitlines()
    blocks: list[SearchReplace] = []
    i = 0
    while i < len(lines):
        if not _SEARCH.match(lines[i]):
            i += 1
            continue
        path = _path_before(lines, i)
        j = i + 1
        while j < len(lines) and not _DIVIDER.match(lines[j]):
            j += 1
        k = j + 1
        while k < len(lines) and not _REPLACE.match(lines[k]):
            k += 1
        if k >= len(lines):
            raise FixRefused("no usable fix: a SEARCH/REPLACE block is not closed")
        blocks.append(SearchReplace(path, "\n".join(lines[i + 1:j]), "\n".join(lines[j + 1:k]), (i, k)))
        i = k + 1
    return blocks


def _path_before(lines: list[str], index: int) -> str | None:
    for line in reversed(lines[max(0, index - 3):index]):
        if not line.strip() or line.strip().startswith(("```", "~~~")):
            continue
        candidate = line.strip().strip("`*").strip()
        candidate = re.sub(r"^(file|path)\s*:\s*", "", candidate, flags=re.IGNORECASE).strip("`* ")
        if " " in candidate or not re.search(r"[\w.]", candidate):
            return None
        return candidate
    return None


SnapshotSource = Callable[[Path], Snapshot]
"""Give the current snapshot of a workspace file (the editor's text if it is open, else the disk's);
raise FileNotFoundError if there is no such file."""


def search_replace_fix(reply: str, workspace: Path, default: Snapshot,
                       snapshot_of: SnapshotSource) -> lsp.WorkspaceEdit:
    """A versioned WorkspaceEdit from the reply's SEARCH/REPLACE blocks (see the module docstring).

    A block without a file name applies to `default` (the document the user asked about).
    """
    blocks = parse_search_replace(reply)
    if not blocks:
        raise FixRefused("no usable fix: the answer has no SEARCH/REPLACE block")
    by_file: dict[str, tuple[Snapshot, list[tuple[int, int, str]]]] = {}
    for number, block in enumerate(blocks, 1):
        snapshot = default if block.path is None else _snapshot_in(workspace, block.path, default, snapshot_of)
        start, end, new = _locate(snapshot, block, number)
        by_file.setdefault(snapshot.uri, (snapshot, []))[1].append((start, end, new))
    changes: list[lsp.TextDocumentEdit | lsp.CreateFile | lsp.RenameFile | lsp.DeleteFile] = []
    for snapshot, spans in by_file.values():
        spans.sort()
        for (_, prev_end, _), (start, _, _) in zip(spans, spans[1:], strict=False):
            if start < prev_end:
                raise FixRefused(f"no usable fix: two changes to {_name(snapshot)} overlap")
        index = LineIndex(snapshot.text)
        edits = [text_edit(index, s, e, n, snapshot.encoding) for s, e, n in spans]
        _check_still_compiles(snapshot, apply_text_edits(snapshot.text, edits, snapshot.encoding))
        changes.append(document_edit(snapshot, edits))
    return lsp.WorkspaceEdit(document_changes=changes)


@dataclass(frozen=True)
class LocatedBlock:
    """One SEARCH/REPLACE block on its own: where it applies, or why it cannot."""

    block: SearchReplace
    snapshot: Snapshot | None = None
    span: tuple[int, int, str] | None = None  # (start, end, new text) in snapshot.text
    problem: str = ""


def locate_blocks(reply: str, workspace: Path, default: Snapshot,
                  snapshot_of: SnapshotSource) -> list[LocatedBlock]:
    """Each block of the reply located by the rules search_replace_fix applies (for showing each
    block as the change it makes). Raises FixRefused only when the blocks cannot be parsed."""
    located = []
    for number, block in enumerate(parse_search_replace(reply), 1):
        try:
            snapshot = default if block.path is None else _snapshot_in(workspace, block.path, default, snapshot_of)
            located.append(LocatedBlock(block, snapshot, _locate(snapshot, block, number)))
        except FixRefused as refusal:
            located.append(LocatedBlock(block, problem=str(refusal)))
    return located


def _name(snapshot: Snapshot) -> str:
    return snapshot.path.name if snapshot.path else snapshot.uri


def _snapshot_in(workspace: Path, name: str, default: Snapshot, snapshot_of: SnapshotSource) -> Snapshot:
    """The snapshot of a file the model named, only if it lies inside the workspace."""
    if "\x00" in name:
        raise FixRefused("no usable fix: a file name in the answer is not valid")
    root = workspace.resolve()
    path = Path(name)
    candidate = (path if path.is_absolute() else root / path).resolve()
    if not candidate.is_relative_to(root):
        raise FixRefused(f"refused: the answer wants to change {name}, which is outside the workspace")
    if default.path is not None:
        own = default.path.resolve()
        # A bare file name the model shortened still means the document the user asked about.
        if candidate == own or (len(path.parts) == 1 and path.name == own.name and not candidate.exists()):
            return default
    try:
        return snapshot_of(candidate)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise FixRefused(f"no usable fix: the answer wants to change {name}, which does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FixRefused(f"no usable fix: cannot read {name}: {exc}") from exc


def _locate(snapshot: Snapshot, block: SearchReplace, number: int) -> tuple[int, int, str]:
    """(start, end, new text) of the one place a block's SEARCH part matches."""
    if not block.search.strip():
        raise FixRefused(f"no usable fix: change {number} has an empty SEARCH part")
    text = snapshot.text
    file_lines = lines_with_breaks(text)
    search = block.search.splitlines()
    replace = block.replace.splitlines()
    for loose in (False, True):
        hits = _line_matches(file_lines, search, loose)
        if len(hits) > 1:
            raise FixRefused(f"no usable fix: change {number} matches {len(hits)} places in "
                             f"{_name(snapshot)}; it must match exactly one")
        if hits:
            first = hits[0]
            if loose:
                replace = _shift_indent(replace, search, file_lines[first:first + len(search)])
            start = sum(len(s) for s in file_lines[:first])
            matched = file_lines[first:first + len(search)]
            end = start + sum(len(s) for s in matched)
            nl = newline_of(text)
            new = nl.join(replace)
            if replace and matched[-1].endswith(("\n", "\r")):
                new += nl
            return start, end, new
    raise FixRefused(f"no usable fix: change {number} does not match the current text of "
                     f"{_name(snapshot)} (the file may have changed, or the model misquoted it)")


def _line_matches(file_lines: list[str], search: list[str], loose: bool) -> list[int]:
    norm = (lambda s: s.strip()) if loose else (lambda s: s.rstrip())
    want = [norm(s) for s in search]
    have = [norm(s) for s in file_lines]
    n = len(want)
    return [i for i in range(len(have) - n + 1) if have[i:i + n] == want]


def _shift_indent(replace: list[str], search: list[str], matched: list[str]) -> list[str]:
    """Move the replacement by the indentation difference between the file and the SEARCH part."""
    file_indent = next((_indent(s) for s in matched if s.strip()), "")
    search_indent = next((_indent(s) for s in search if s.strip()), "")
    if file_indent.startswith(search_indent):
        extra = file_indent[len(search_indent):]
        return [extra + s if s.strip() else s for s in replace]
    if search_indent.startswith(file_indent):
        cut = len(search_indent) - len(file_indent)
        return [s[cut:] if s[:cut].strip() == "" else s.lstrip() for s in replace]
    return replace
