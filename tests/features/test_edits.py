"""Fixes proposed by a model become versioned edits that apply cleanly, or a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types as lsp

from gemma_lsp.agent.edits import (
    FixRefused,
    Snapshot,
    apply_text_edits,
    extract_code_block,
    offset_to_position,
    parse_search_replace,
    position_to_offset,
    region_fix,
    search_replace_fix,
)

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


def snap(text: str = CALC, version: int | None = 3, name: str = "calc.py", root: Path | None = None) -> Snapshot:
    path = (root or Path("/ws")) / name
    return Snapshot(uri=path.as_uri(), text=text, version=version, path=path, language_id="python")


def applied(snapshot: Snapshot, edit: lsp.WorkspaceEdit) -> str:
    (change,) = edit.document_changes
    assert change.text_document.version == snapshot.version
    return apply_text_edits(snapshot.text, change.edits)


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
        return Snapshot(path.as_uri(), path.read_text(), None, path)

    edit = search_replace_fix(reply, tmp_path, snap(root=tmp_path), from_disk)
    (change,) = edit.document_changes
    assert change.text_document.uri == other.as_uri() and change.text_document.version is None
    assert apply_text_edits(other.read_text(), change.edits) == "def f():\n    return 2\n"


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
        return Snapshot(path.as_uri(), path.read_text(), None, path)

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
    assert position_to_offset(text, offset_to_position(text, offset)) == offset


def test_astral_characters_count_two_units():
    assert offset_to_position("😀x", 1) == lsp.Position(line=0, character=2)
