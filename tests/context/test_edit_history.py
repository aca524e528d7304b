"""Recent edits as unified diffs: keystrokes merge into edits, through the real document store."""

from __future__ import annotations

from lsprotocol import types

from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.edit_history import MAX_EDITS, EditHistory

URI = "file:///w/calc.py"
TEXT = "def area(w, h):\n    return w * h\n\n\ndef volume(w, h, d):\n    return area(w, h) * d\n"


def _type(store: DocumentStore, line: int, character: int, text: str, delete: int = 0) -> None:
    """Type `text` one character a change (as editors send it), after deleting `delete` characters."""
    doc = store.get(URI)
    assert doc is not None
    version = doc.version
    if delete:
        version += 1
        end = types.Position(line, character + delete)
        store.change(URI, version, [types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, character), end), text="")])
    for i, char in enumerate(text):
        version += 1
        at = types.Position(line, character + i)
        store.change(URI, version, [types.TextDocumentContentChangePartial(range=types.Range(at, at), text=char)])


def _store() -> DocumentStore:
    store = DocumentStore(encoding="utf-32")
    store.open(URI, "python", 1, TEXT)
    return store


def test_typing_a_word_is_one_edit_with_document_line_numbers():
    store = _store()
    _type(store, 0, 9, "width", delete=1)  # the parameter w -> width, one key at a time
    diffs = store.history.diffs(URI, "calc.py")
    assert diffs == [
        "--- a/calc.py\n+++ b/calc.py\n"
        "@@ -1,3 +1,3 @@\n"
        "-def area(w, h):\n"
        "+def area(width, h):\n"
        "     return w * h\n"
        " \n"
    ]


def test_an_edit_elsewhere_starts_a_new_one_and_backspacing_stays_in_the_same():
    store = _store()
    _type(store, 0, 9, "width", delete=1)
    _type(store, 4, 0, "")  # no change at all: still one edit
    _type(store, 5, 11, "aera")  # a typo, then backspaced away and retyped
    doc = store.get(URI)
    assert doc is not None
    for n in range(4):
        at = types.Position(5, 15 - n)
        store.change(URI, doc.version + 1 + n, [types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(5, 14 - n), at), text="")])
    _type(store, 5, 11, "big_")
    diffs = store.history.diffs(URI, "calc.py")
    assert len(diffs) == 2
    assert "+def area(width, h):" in diffs[0]
    assert diffs[1].splitlines()[2:] == [
        "@@ -4,3 +4,3 @@",
        " ",
        " def volume(w, h, d):",
        "-    return area(w, h) * d",
        "+    return big_area(w, h) * d",
    ]


def test_an_edit_that_undid_itself_leaves_nothing_and_closing_forgets():
    store = _store()
    _type(store, 1, 11, "xy")
    doc = store.get(URI)
    assert doc is not None
    store.change(URI, doc.version + 1, [types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(1, 11), types.Position(1, 13)), text="")])
    assert store.history.diffs(URI, "calc.py") == []
    _type(store, 1, 11, "z")
    assert len(store.history.diffs(URI, "calc.py")) == 1
    store.close(URI)
    assert store.history.diffs(URI, "calc.py") == []


def test_whole_text_changes_record_only_what_changed():
    store = _store()
    store.change(URI, 2, [types.TextDocumentContentChangeWholeDocument(text=TEXT.replace("d):", "depth):"))])
    (diff,) = store.history.diffs(URI, "calc.py")
    assert "-def volume(w, h, d):\n+def volume(w, h, depth):\n" in diff
    assert diff.splitlines()[2] == "@@ -3,4 +3,4 @@"


def test_bounded_in_count_and_size():
    history = EditHistory(max_edits=3, max_diff_chars=300)
    text = "".join(f"line {n}\n" for n in range(40))
    for n in range(0, 40, 5):  # edits far apart: one each
        start = text.index(f"line {n}\n")
        after = text[:start] + "X" + text[start:]
        history.record(URI, text, start, start, "X", after)
        text = after
    diffs = history.diffs(URI, "f")
    assert len(diffs) == MAX_EDITS - 5 == 3
    assert "+Xline 35" in diffs[-1] and "+Xline 25" in diffs[0]
    big = "y" * 400 + "\n"
    history.record(URI, text, 0, 0, big, big + text)
    assert all("yyyy" not in diff for diff in history.diffs(URI, "f"))  # too large to show
    assert len(history.diffs(URI, "f")) == 3


def test_the_latest_edits_of_other_documents_come_too():
    history = EditHistory()
    for uri in ("file:///w/a.py", "file:///w/b.py", "file:///w/c.py"):
        history.record(uri, "x = 1\n", 0, 1, "y", "y = 1\n")
    history.record("file:///w/b.py", "y = 1\n", 4, 5, "2", "y = 2\n")  # b edited last
    label = lambda uri: uri.rsplit("/", 1)[-1]  # noqa: E731
    diffs = history.diffs_elsewhere("file:///w/a.py", label, documents=2, per_document=1)
    # c (edited before b) first, then b's latest edit of its two; a's own are not among them.
    assert [d.splitlines()[0] for d in diffs] == ["--- a/c.py", "--- a/b.py"]
    assert "+y = 2" in diffs[-1]
    history.forget("file:///w/b.py")
    assert [d.splitlines()[0] for d in history.diffs_elsewhere("file:///w/a.py", label)] == ["--- a/c.py"]
