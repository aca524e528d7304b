"""Edit positions follow the negotiated encoding (Neovim asks for UTF-8) and LSP's line breaks."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from gemma_lsp.context.positions import lines_with_breaks, offset_of, position_of

TEXT = 'a\x0cb = 1\nname = "café 😀"'  # a form feed mid-line, no newline at the end


@pytest.mark.parametrize(("encoding", "end_column"), [("utf-8", 19), ("utf-16", 16), ("utf-32", 15)])
def test_end_of_a_non_ascii_last_line(encoding: str, end_column: int):
    end = position_of(TEXT, len(TEXT), encoding)
    assert end == lsp.Position(line=1, character=end_column)
    assert offset_of(TEXT, end, encoding) == len(TEXT)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_every_offset_round_trips(encoding: str):
    for offset in range(len(TEXT) + 1):
        position = position_of(TEXT, offset, encoding)
        assert offset_of(TEXT, position, encoding) == offset


def test_only_lsp_line_breaks_split_lines():
    lines = lines_with_breaks("a\x0cb\u2028c\r\nd\re\nf")
    assert lines == ["a\x0cb\u2028c\r\n", "d\r", "e\n", "f"]
    assert "".join(lines) == "a\x0cb\u2028c\r\nd\re\nf"
