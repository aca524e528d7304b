"""features.proposals: unified diffs, summaries, and SEARCH/REPLACE blocks shown as diffs (pure)."""

from __future__ import annotations

import difflib

from gemma_lsp.features.proposals import (
    BlockView,
    FileChange,
    propose,
    replace_blocks,
    summarize,
    unified_diff,
)


def test_a_diff_matches_difflib_for_ordinary_files():
    before = "".join(f"line {i}\n" for i in range(20))
    after = before.replace("line 3\n", "line three\n").replace("line 15\n", "")
    expected = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), "a/x.py", "b/x.py"))
    assert unified_diff("x.py", before, after) == expected


def test_missing_final_newlines_and_crlf():
    assert unified_diff("x.py", "a\nb", "a\nc") == (
        "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
        "\\ No newline at end of file\n")
    # Adding the final newline is a change; CRLF files diff as lines, written with "\n".
    assert unified_diff("x.py", "a\r\nb", "a\r\nb\r\n") == (
        "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n")
    assert unified_diff("x.py", "same\n", "same\n") == ""


def test_summary_and_proposal():
    one = FileChange("calc.py", "a\n", "b\n", 1)
    assert summarize([one]) == "1 change in calc.py"
    assert summarize([one, FileChange("src/util.py", "x\n", "y\n", 2)]) == "3 changes in calc.py and src/util.py"
    proposal = propose({"documentChanges": []}, [one])
    assert proposal.to_json() == {"edit": {"documentChanges": []}, "summary": "1 change in calc.py",
                                  "diff": "--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-a\n+b\n"}


ANSWER = """The bug.

calc.py
```python
<<<<<<< SEARCH
old
=======
new
>>>>>>> REPLACE
<<<<<<< SEARCH
x
=======
y
>>>>>>> REPLACE
```

util.py
<<<<<<< SEARCH
u
=======
v
>>>>>>> REPLACE
Done."""


def test_blocks_become_diffs_or_notes_with_their_fences_and_names():
    views = [BlockView((4, 8), diff="D1\n"), BlockView((9, 13), note="could not", intent="-x\n+y\n"),
             BlockView((17, 21), diff="D3\n")]
    assert replace_blocks(ANSWER, views, ["calc.py", "calc.py", "util.py"]) == (
        "The bug.\n\n```diff\nD1\n```\n\n_could not_\n\n```diff\n-x\n+y\n```\n\n```diff\nD3\n```\nDone.")
