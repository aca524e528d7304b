"""A context part's origin (context/parts.py): the one reading of "URI:LINE" for the builder and next edit."""

from __future__ import annotations

import pytest

from gemma_lsp.context.parts import ContextPart


@pytest.mark.parametrize(("origin", "first", "last", "expected"), [
    ("file:///w/a.py:10", 9, 9, True),  # line 10 is the 0-based line 9
    ("file:///w/a.py:10", 0, 8, False),
    ("file:///w/a.py:10", 10, 20, False),
    ("file:///w/b.py:10", 0, 20, False),  # another file
    ("file:///w/a.py", 0, 20, False),  # no line
    ("file:///w/a.py:x", 0, 20, False),
    (None, 0, 20, False),
])
def test_taken_from_reads_the_uri_and_its_one_based_line(origin, first, last, expected):
    part = ContextPart("definition", "def f(): ...", 4, origin)
    assert part.taken_from("file:///w/a.py", first, last) is expected
