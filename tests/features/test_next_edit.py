"""Next-edit prediction without a model: the prompt (golden files), the diff-to-smallest-edit step
(property test) and the post-processing rules that keep bad rewrites from being suggested."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.languages import language_for
from gemma_lsp.features import next_edit as ne

FIXTURES = Path(__file__).resolve().parent.parent / "context" / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "next_edit"
UPDATE = os.environ.get("GEMMA_LSP_UPDATE_GOLDENS") == "1"


def count_tokens(text: str) -> int:
    return (len(text) + 3) // 4  # deterministic stand-in, as the context goldens use


def _store_with(file: str, typed: list[tuple[int, int, int, str]]) -> tuple[DocumentStore, str]:
    """Open fixture `file` and replay edits (line, column, characters deleted, text typed one key at a
    time) through the document store, as didChange would."""
    text = (FIXTURES / file).read_text("utf-8")
    uri = f"file:///fixtures/{file.removesuffix('.txt')}"
    store = DocumentStore(encoding="utf-32")
    store.open(uri, language_for(None, uri) or "plaintext", 1, text)
    version = 1
    for line, column, deleted, typed_text in typed:
        changes: list[tuple[int, int, str]] = [(column, column + deleted, "")] if deleted else []
        changes += [(column + i, column + i, char) for i, char in enumerate(typed_text)]
        for start, end, new in changes:
            version += 1
            store.change(uri, version, [types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(line, start), types.Position(line, end)), text=new)])
    return store, uri


GOLDEN_CASES = {
    # Renamed the parameter `amount` of restock to `count`; the cursor after the new name.
    "python_rename_parameter": ("python/inventory.py.txt", [(41, 33, 6, "count")], (41, 38)),
    # Renamed `value` to `val` in Put's parameters (Go, tabs).
    "go_rename_parameter": ("go/store.go", [(35, 27, 5, "val")], (35, 30)),
    # No edits yet, the cursor in an empty body near the end of the file.
    "python_no_edits": ("python/inventory.py.txt", [], (48, 8)),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_prompt_golden(name: str):
    file, typed, (line, column) = GOLDEN_CASES[name]
    store, uri = _store_with(file, typed)
    builder = ContextBuilder(store, count_tokens)
    prompt = ne.build_prompt(builder, store, uri, types.Position(line, column),
                             store.history.diffs(uri, uri.rsplit("/", 1)[-1]), 4096)
    messages, prefill = ne.messages(prompt)
    window_lines = prompt.window.count("\n") + 1
    assert 20 <= window_lines <= 40 or prompt.window_end - prompt.window_start == len(prompt.window)
    assert len(prompt.edits) == (1 if typed else 0)  # typing a name is one edit
    actual = {
        "window": {"first_line": prompt.first_line + 1, "lines": window_lines},
        "parts": [{"source": p.source, "origin": p.origin} for p in prompt.parts],
        "system": messages[0]["content"],
        "user": messages[1]["content"],
        "prefill": prefill,
    }
    path = GOLDEN / f"{name}.json"
    if UPDATE or not path.exists():
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert actual == json.loads(path.read_text("utf-8")), f"{name}: prompt changed (GEMMA_LSP_UPDATE_GOLDENS=1)"


def test_python_rename_prompt_shows_the_edit_the_window_and_the_cursor():
    store, uri = _store_with("python/inventory.py.txt", [(41, 33, 6, "count")])
    prompt = ne.build_prompt(ContextBuilder(store, count_tokens), store, uri, types.Position(41, 38),
                             store.history.diffs(uri, "inventory.py"), 4096)
    user = ne.messages(prompt)[0][1]["content"]
    assert "-    def restock(self, name: str, amount: int) -> None:\n" \
           "+    def restock(self, name: str, count: int) -> None:\n" in user
    assert "def restock(self, name: str, count<CURSOR>: int) -> None:" in user
    assert user.index(ne.START) < user.index("        item.quantity += amount") < user.index(ne.END)


# -- the diff-to-smallest-edit step -------------------------------------------------------------------

_CODE = st.text(alphabet="ab (x)=\n\t", max_size=60)


@settings(max_examples=400, deadline=None)
@given(window=_CODE, rewrite=_CODE)
def test_smallest_edit_gives_the_rewrite_and_touches_nothing_else(window: str, rewrite: str):
    found = ne.smallest_edit(window, rewrite)
    if window == rewrite:
        assert found is None
        return
    assert found is not None
    start, end, new_text = found
    assert 0 <= start <= end <= len(window)
    assert window[:start] + new_text + window[end:] == rewrite  # applying it gives the rewrite
    # Nothing else is touched: the kept prefix and suffix cannot grow.
    grows_front = start < len(window) and start < len(rewrite) and end > start and new_text \
        and window[start] == new_text[0]
    grows_back = end > start and new_text and window[end - 1] == new_text[-1]
    assert not grows_front and not grows_back


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(alphabet="abc =", min_size=1, max_size=12), min_size=3, max_size=30),
       at=st.integers(min_value=0), replacement=st.text(alphabet="xyz", min_size=1, max_size=6))
def test_one_changed_line_becomes_an_edit_within_that_line(lines: list[str], at: int, replacement: str):
    window = "\n".join(lines)
    index = at % len(lines)
    rewritten = list(lines)
    rewritten[index] = lines[index] + replacement
    found = ne.smallest_edit(window, "\n".join(rewritten))
    assert found is not None
    start, end, _ = found
    line_start = sum(len(line) + 1 for line in lines[:index])
    assert line_start <= start <= end <= line_start + len(lines[index])


# -- post-processing --------------------------------------------------------------------------------

WINDOW = "def area(width, h):\n    return w * h\n\nprint(area(2, 3))"


def _prompt(window: str = WINDOW, start: int = 100) -> ne.NextEditPrompt:
    return ne.NextEditPrompt(uri="file:///w/a.py", path="/w/a.py", language="python", version=7,
                             window_start=start, window_end=start + len(window), window=window,
                             cursor=start, first_line=4, above="", below="", edits=[])


def test_a_rename_becomes_the_smallest_edit_in_document_offsets():
    edit, reason = ne.to_edit(_prompt(), WINDOW.replace("return w *", "return width *"))
    assert reason == "" and edit is not None
    assert (edit.start, edit.end, edit.new_text, edit.version) == (100 + WINDOW.index("w *") + 1,) * 2 + ("idth", 7)
    assert edit.label == "line 6: w → width"


@pytest.mark.parametrize("rewrite, reason", [
    (WINDOW, "no change"),
    (WINDOW.replace("    return", "  return"), "only whitespace changes"),
    (WINDOW.replace("\n\nprint(area(2, 3))", ""), "deletes code it does not replace"),
    ("def area(width, h):\n    return width * h", "deletes code it does not replace"),  # a truncated reply
    # The reply of another file: the window's lines replaced by unrelated ones.
    ("const count: number = 3;\nexport { count };\nlet a = 1;\nlet b = 2;", "replaces code with unrelated code"),
    (WINDOW.replace("    return w * h\n", "    return width * h\n").replace("print(area(2, 3))", ""),
     "deletes code it does not replace"),
])
def test_rewrites_that_must_not_be_suggested(rewrite: str, reason: str):
    edit, why = ne.to_edit(_prompt(), rewrite)
    assert edit is None and why.startswith(reason)


def test_blank_lines_where_the_fence_closes_are_not_an_edit():
    window = WINDOW + "\n"
    edit, _ = ne.to_edit(_prompt(window), window.rstrip("\n").replace("return w", "return width"))
    assert edit is not None and edit.new_text == "idth"
    edit, why = ne.to_edit(_prompt(), WINDOW + "\n\n")
    assert edit is None and why == "no change"


def test_parse_rewrite_drops_markers_cursor_and_what_follows_the_fence():
    reply = f"{ne.START}\ndef f(x<CURSOR>):\n    return x\n{ne.END}\n```\nThis renames x."
    assert ne.parse_rewrite(reply) == "def f(x):\n    return x"
    assert ne.parse_rewrite("a = 1\n") == "a = 1"


@pytest.mark.parametrize("window, rewrite, label", [
    ("x = count + 1", "x = total + 1", "line 5: count → total"),
    ("f(a)", "f(a, b)", "line 5: a → a, b"),
    ("a = 1\nb = 2\nc = 3", "a = 10\nb = 20\nc = 3", "lines 5–6: edit"),
])
def test_labels(window: str, rewrite: str, label: str):
    found = ne.smallest_edit(window, rewrite)
    assert found is not None
    assert ne.label_for(window, *found, first_line=4) == label
