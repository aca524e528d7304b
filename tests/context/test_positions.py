"""LSP positions in UTF-16 (default), UTF-8 and UTF-32 against code-point offsets and tree-sitter bytes,
with emoji (two UTF-16 units, four bytes) and CJK (one unit, three bytes); lines end at "\n", "\r\n"
and a lone "\r", as LSP says, for the document store and the edits alike."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol.types import Position, Range, TextDocumentContentChangePartial, TextEdit

from gemma_lsp.agent.edits import apply_text_edits
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.positions import (
    LineIndex,
    byte_offset,
    char_offset,
    check_encoding,
    split_lines,
    ts_point,
)

TEXT = 'name = "😀 héllo 世界"\nx = 1  # 🎉🎉\n\n最后一行'


def test_utf16_counts_emoji_as_two_units():
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, TEXT)
    # Line 0: `name = "` is 8 units, the emoji 2, then ` héllo ` ...
    assert store.offset_at("file:///a.py", Position(line=0, character=8)) == 8
    assert store.offset_at("file:///a.py", Position(line=0, character=10)) == 9  # after the emoji
    assert TEXT[9:16] == " héllo "
    # Inside the surrogate pair counts the emoji as before the position.
    assert store.offset_at("file:///a.py", Position(line=0, character=9)) == 9
    assert store.position_at("file:///a.py", 9) == Position(line=0, character=10)


@pytest.mark.parametrize("encoding, column, expected", [
    ("utf-8", 12, 9),  # `name = "` 8 bytes + emoji 4 bytes
    ("utf-16", 10, 9),
    ("utf-32", 9, 9),
])
def test_each_encoding(encoding, column, expected):
    store = DocumentStore(encoding=encoding)
    store.open("file:///a.py", "python", 1, TEXT)
    assert store.offset_at("file:///a.py", Position(line=0, character=column)) == expected


def test_positions_past_the_end_are_clamped():
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, TEXT)
    line_one_end = TEXT.index("\n", TEXT.index("\n") + 1)
    assert store.offset_at("file:///a.py", Position(line=1, character=999)) == line_one_end
    assert store.offset_at("file:///a.py", Position(line=99, character=0)) == len(TEXT)


def test_unknown_encoding_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown position encoding"):
        check_encoding("utf-7")


def test_tree_sitter_points_are_byte_columns():
    offset = TEXT.index("世")
    row, column = ts_point(TEXT, offset)
    assert row == 0 and column == len('name = "😀 héllo '.encode())
    data = TEXT.encode()
    assert char_offset(data, byte_offset(TEXT, offset)) == offset


def test_cjk_line_through_the_tree():
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, TEXT)
    doc = store.get("file:///a.py")
    offset = store.offset_at("file:///a.py", Position(line=0, character=TEXT.index("世") + 1))
    node = doc.tree.root_node.descendant_for_byte_range(byte_offset(TEXT, offset), byte_offset(TEXT, offset))
    assert node.type in ("string_content", "string")


_chars = st.sampled_from(list("ab \n\r\t😀世é{}()\"'#;\x0c"))


@settings(max_examples=150, deadline=None)
@given(text=st.text(_chars, max_size=60), data=st.data())
def test_round_trip_every_offset(text, data):
    lines = LineIndex(text)
    encoding = data.draw(st.sampled_from(["utf-8", "utf-16", "utf-32"]))
    offset = data.draw(st.integers(0, len(text)))
    if offset and text[offset - 1:offset + 1] == "\r\n":
        offset -= 1  # the middle of a "\r\n" is not a position: it maps to the end of its line
    line, column = lines.position_at(offset, encoding)
    assert lines.offset_at(line, column, encoding) == offset
    assert len(split_lines(text[: lines.starts[line]])) == line
    assert char_offset(text.encode(), byte_offset(text, offset)) == offset


@settings(max_examples=200, deadline=None)
@given(text=st.text(_chars, max_size=40), new=st.text(_chars, max_size=8), data=st.data())
def test_line_index_after_a_replacement_equals_a_fresh_one(text, new, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    result = text[:start] + new + text[end:]
    assert LineIndex(text).replaced(start, end, new, result).starts == LineIndex(result).starts


MIXED = "a = 1\rb = 2\r\nc\x0cd = 3\ne\u2028f"  # a lone CR, CRLF, a form feed and U+2028 inside lines


def test_lines_end_where_lsp_says():
    lines = LineIndex(MIXED)
    assert [lines.line_text(i) for i in range(len(lines.starts))] == ["a = 1", "b = 2", "c\x0cd = 3", "e\u2028f"]
    assert lines.position_at(MIXED.index("b"), "utf-16") == (1, 0)
    assert lines.offset_at(1, 99, "utf-16") == MIXED.index("\r\n")  # clamped before the line break


@pytest.mark.parametrize("line, column, new", [(1, 0, "x"), (1, 5, "\n"), (0, 5, "\n"), (3, 1, "y\r"), (2, 1, "z")])
def test_the_store_and_the_edits_put_a_change_in_the_same_place(line, column, new):
    """didChange (the document store) and a code action's edit (agent.edits) map one range alike."""
    at = Position(line=line, character=column)
    store = DocumentStore()
    store.open("file:///m.py", "python", 1, MIXED)
    store.change("file:///m.py", 2, [TextDocumentContentChangePartial(range=Range(at, at), text=new)])
    edited = apply_text_edits(MIXED, [TextEdit(range=Range(at, at), new_text=new)], "utf-16")
    assert store.get("file:///m.py").text == edited
