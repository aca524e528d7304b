"""Fixes proposed by a model become versioned edits that apply cleanly, or a clear refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from lsprotocol import types as lsp

from gemma_lsp.agent.edits import (
    FixRefused,
    Snapshot,
    apply_text_edits,
    extract_code_block,
    parse_search_replace,
    region_fix,
    search_replace_fix,
)
from gemma_lsp.context.positions import offset_of, position_of

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


def snap(text: str = CALC, version: int | None = 3, name: str = "calc.py", root: Path | None = None) -> Snapshot:
    path = (root or Path("/ws")) / name
    return Snapshot(uri=path.as_uri(), text=text, version=version, path=path, language_id="python",
                    encoding="utf-16")


def applied(snapshot: Snapshot, edit: lsp.WorkspaceEdit) -> str:
    (change,) = edit.document_changes
    assert change.text_document.version == snapshot.version
    return apply_text_edits(snapshot.text, change.edits, snapshot.encoding)


def test_region_fix_replaces_exactly_the_lines_and_pins_the_version():
    s = snap()
    edit = region_fix(s, 1, 1, "Here it is:\n```python\n    return a + b\n```\nDone.")
    assert applied(s, edit) == CALC.replace("a - b", "a + b")


def test_region_fix_restores_indentation_and_drops_echoed_context():
    s = snap()
    reply = "```\ndef add(a, b):\nreturn a + b\n```"  # echoed the line before; dedented the fix
    assert applied(s, region_fix(s, 1, 1, reply)) == CALC.replace("a - b", "a + b")


def test_region_fix_keeps_crlf():
    s = snap(CALC.replace("\n", "\r\n"))
    out = applied(s, region_fix(s, 1, 1, "```\n    return a + b\n```"))
    assert out == CALC.replace("a - b", "a + b").replace("\n", "\r\n")


@pytest.mark.parametrize("reply, message", [
    ("I think you should add them.", "has no code block"),
    ("```python\n    return a + b\n", "before its code block was closed"),
    ("```\n    return a - b\n```", "no change"),
    ("```\n    return (a + \n```", "would not compile"),
    ("ŧ€¶ŧ←↓ gibberish <|\"|> ``` ", "no code block"),
])
def test_region_fix_refusals(reply, message):
    with pytest.raises(FixRefused, match=message):
        region_fix(snap(), 1, 1, reply)


def test_empty_block_deletes_the_lines():
    text = "import os\nx = 1\n"
    s = snap(text)
    assert applied(s, region_fix(s, 0, 0, "```python\n```")) == "x = 1\n"


def test_code_block_with_longer_fence_and_language():
    assert extract_code_block("````py\nx = '```'\n````") == "x = '```'\n"


SR = """The subtraction should be an addition.

calc.py
```python
<<<<<<< SEARCH
    return a - b
=======
    return a + b
>>>>>>> REPLACE
```
"""


def test_search_replace_on_open_document(tmp_path):
    s = snap(root=tmp_path)
    edit = search_replace_fix(SR, tmp_path, s, lambda p: pytest.fail("must not read the disk"))
    assert applied(s, edit) == CALC.replace("a - b", "a + b")


def test_search_replace_other_file_from_disk_is_unversioned(tmp_path):
    (tmp_path / "pkg").mkdir()
    other = tmp_path / "pkg" / "util.py"
    other.write_text("def f():\n    return 1\n")
    reply = "pkg/util.py\n<<<<<<< SEARCH\nreturn 1\n=======\nreturn 2\n>>>>>>> REPLACE\n"

    def from_disk(path: Path) -> Snapshot:
        return Snapshot(path.as_uri(), path.read_text(), None, path, encoding="utf-16")

    edit = search_replace_fix(reply, tmp_path, snap(root=tmp_path), from_disk)
    (change,) = edit.document_changes
    assert change.text_document.uri == other.as_uri() and change.text_document.version is None
    assert apply_text_edits(other.read_text(), change.edits, "utf-16") == "def f():\n    return 2\n"


@pytest.mark.parametrize("reply, message", [
    ("No blocks here.", "no SEARCH/REPLACE block"),
    ("../../etc/passwd\n<<<<<<< SEARCH\nroot\n=======\nx\n>>>>>>> REPLACE", "outside the workspace"),
    ("/etc/passwd\n<<<<<<< SEARCH\nroot\n=======\nx\n>>>>>>> REPLACE", "outside the workspace"),
    ("calc.py\n<<<<<<< SEARCH\n    return a / b\n=======\nx\n>>>>>>> REPLACE", "does not match"),
    ("calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a +\n>>>>>>> REPLACE", "would not compile"),
    ("calc.py\n<<<<<<< SEARCH\n\n=======\nx\n>>>>>>> REPLACE", "empty SEARCH"),
    ("calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n", "not closed"),
    ("missing.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE", "does not exist"),
])
def test_search_replace_refusals(tmp_path, reply, message):
    def from_disk(path: Path) -> Snapshot:
        return Snapshot(path.as_uri(), path.read_text(), None, path, encoding="utf-16")

    with pytest.raises(FixRefused, match=message):
        search_replace_fix(reply, tmp_path, snap(root=tmp_path), from_disk)


def test_ambiguous_search_is_refused(tmp_path):
    text = "x = 1\nx = 1\n"
    reply = "<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE"
    with pytest.raises(FixRefused, match="matches 2 places"):
        search_replace_fix(reply, tmp_path, snap(text, root=tmp_path), lambda p: None)


def test_loose_match_shifts_indentation(tmp_path):
    reply = "<<<<<<< SEARCH\nreturn a - b\n=======\nreturn a + b\n>>>>>>> REPLACE"
    s = snap(root=tmp_path)
    assert applied(s, search_replace_fix(reply, tmp_path, s, lambda p: None)) == CALC.replace("-", "+")


def test_two_blocks_in_one_file(tmp_path):
    reply = ("<<<<<<< SEARCH\n    return a * b\n=======\n    return a ** b\n>>>>>>> REPLACE\n"
             "<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n")
    s = snap(root=tmp_path)
    out = applied(s, search_replace_fix(reply, tmp_path, s, lambda p: None))
    assert out == CALC.replace("a - b", "a + b").replace("a * b", "a ** b")


def test_parse_reads_the_file_name_before_the_fence():
    (block,) = parse_search_replace(SR)
    assert (block.path, block.search, block.replace) == ("calc.py", "    return a - b", "    return a + b")


@given(st.text(alphabet=st.sampled_from("ab \n\r😀é\t"), max_size=40), st.data())
def test_positions_round_trip_in_utf16(text, data):
    offset = data.draw(st.integers(0, len(text)))
    if offset and text[offset - 1:offset + 1] == "\r\n":
        offset -= 1  # the middle of a CRLF is not a position
    assert offset_of(text, position_of(text, offset, "utf-16"), "utf-16") == offset


def test_astral_characters_count_two_units():
    assert position_of("😀x", 1, "utf-16") == lsp.Position(line=0, character=2)


# ------------------------------------------------------------------ region fixes are minimal edits

def test_a_fix_whose_block_leaves_out_the_blank_lines_keeps_them_and_touches_one_line():
    """A model's block drops the blank lines at its edges: the fix must not delete them (issue 13)."""
    s = snap()
    edit = region_fix(s, 0, 3, "```python\ndef add(a, b):\n    return a + b\n```")
    (change,) = edit.document_changes
    assert applied(s, edit) == CALC.replace("a - b", "a + b")
    assert [(e.range.start.line, e.range.end.line, e.new_text) for e in change.edits] == [
        (1, 2, "    return a + b\n")]


def test_unchanged_lines_between_changes_are_not_touched():
    text = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"
    s = snap(text)
    edit = region_fix(s, 0, 4, "```\na = 10\nb = 2\nc = 3\nd = 4\ne = 50\n```")
    (change,) = edit.document_changes
    assert [(e.range.start.line, e.range.end.line) for e in change.edits] == [(0, 1), (4, 5)]
    assert applied(s, edit) == "a = 10\nb = 2\nc = 3\nd = 4\ne = 50\n"


def test_a_fix_at_the_end_of_a_file_without_a_final_line_break_adds_none():
    s = snap("x = 1\ny = 2")
    assert applied(s, region_fix(s, 1, 1, "```\ny = 3\nz = 4\n```")) == "x = 1\ny = 3\nz = 4"
    assert applied(s, region_fix(s, 0, 1, "```\nx = 1\ny = 2\nz = 4\n```")) == "x = 1\ny = 2\nz = 4"


_LINES = st.sampled_from(["a", "b", "c", "d", "", "  ", "e = 1", "f(x)  "])


def _blank_edges(lines: list[str]) -> tuple[int, int]:
    lead = next((i for i, x in enumerate(lines) if x.strip()), len(lines))
    trail = next((i for i, x in enumerate(reversed(lines)) if x.strip()), 0) if lead < len(lines) else 0
    return lead, trail


def _split(text: str) -> list[str]:
    """Lines without their breaks (a final break ends the last line; it does not start another)."""
    return re.findall(r"[^\r\n]*(?:\r\n|\n)|[^\r\n]+$", text)


@given(prefix=st.lists(st.sampled_from(["p", "q", ""]), max_size=4),
       region=st.lists(_LINES, min_size=1, max_size=8), reply=st.lists(_LINES, max_size=8),
       suffix=st.lists(st.sampled_from(["s", "t", ""]), max_size=4),
       nl=st.sampled_from(["\n", "\r\n"]), final_break=st.booleans())
def test_a_region_fix_changes_only_the_lines_that_differ(prefix, region, reply, suffix, nl, final_break):
    """For any region and reply: applying the edit gives the reply's lines between the region's own
    blank edges; every edit covers whole lines inside the region, and none starts or ends with a line
    it leaves as it was (so nothing outside the differing lines is touched)."""
    # The empty "line" after a final break (or of an empty text) has no text or break of its own to
    # keep: a fix there writes a new last line, so it stays out of the generated regions.
    assume(suffix or final_break or region[-1] != "")
    lines = prefix + region + suffix
    text = nl.join(lines) + (nl if final_break else "")
    s = Snapshot(uri="file:///ws/notes.txt", text=text, version=1, encoding="utf-16")  # not Python: no compile guard
    first, last = len(prefix), len(prefix) + len(region) - 1
    lead, trail = _blank_edges(region)
    r_lead, r_trail = _blank_edges(reply)
    new_core = reply[r_lead:len(reply) - r_trail]
    old_core = region[lead:len(region) - trail]
    try:
        edit = region_fix(s, first, last, "```\n" + "\n".join(reply) + "\n```")
    except FixRefused:
        assert [x.rstrip() for x in new_core if x.strip()] == [x.rstrip() for x in old_core if x.strip()]
        return
    (change,) = edit.document_changes
    out = apply_text_edits(text, change.edits, "utf-16")
    want = prefix + region[:lead] + new_core + region[len(region) - trail:] + suffix
    used = nl if nl in text else "\n"  # a text without a line break gets LF lines added
    expected = used.join(want) + (nl if final_break and want else "")
    assert _no_trailing_spaces(out) == _no_trailing_spaces(expected)
    for e in change.edits:
        start, end = offset_of(text, e.range.start, "utf-16"), offset_of(text, e.range.end, "utf-16")
        at_end = end == len(text)
        # Whole lines; at the end of a file without a final break, the break before a deleted or
        # after an extended last line goes with it.
        assert e.range.start.character == 0 or (at_end and e.new_text == "" or e.new_text.startswith(used)), e
        assert e.range.end.character == 0 or at_end, e
        assert first + lead <= e.range.start.line and e.range.end.line <= last + 1 - trail or at_end, e
        removed = [x.rstrip("\r\n") for x in _split(text[start:end])]
        added = [x.rstrip("\r\n") for x in _split(e.new_text)]
        if removed and added:
            assert removed[0].rstrip() != added[0].rstrip() and removed[-1].rstrip() != added[-1].rstrip(), e
        assert text[start:end] or e.new_text


def _no_trailing_spaces(text: str) -> str:
    return re.sub(r"[ \t]+(?=\r?\n|$)", "", text)
