"""The context builder: definitions from the same file, other open documents and the workspace index,
recent places, budgets, syntax-boundary windows, plain text and bad requests."""

from __future__ import annotations

import pytest
from lsprotocol.types import Position

from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore, UnknownDocument
from gemma_lsp.context.index import WorkspaceIndex

from .conftest import build_at, count_tokens, open_text, split_cursor

LIB = '''"""Helpers."""


def parse_price(text: str) -> float:
    """Parse "12.50 EUR" into 12.5."""
    return float(text.split()[0])


class Ledger:
    """Money in and out."""

    def record(self, amount: float) -> None:
        self.total += amount
'''


def _sources(ctx) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in ctx.parts:
        found.setdefault(part.source, []).append(part.origin or "")
    return found


def test_definition_from_another_open_document():
    store = DocumentStore()
    open_text(store, "file:///w/lib.py", LIB)
    ctx = build_at("from lib import parse_price, Ledger\n\nledger = Ledger()\nledger.record(parse_price(|))\n",
                   store=store)
    definitions = [p for p in ctx.parts if p.source == "definition"]
    texts = {p.origin: p.text for p in definitions}
    assert texts["file:///w/lib.py:4"].startswith("def parse_price(text: str) -> float:\n")
    assert '"""Parse "12.50 EUR" into 12.5."""' in texts["file:///w/lib.py:4"]
    assert "return float" not in texts["file:///w/lib.py:4"]  # signature and docstring, not the body
    assert "file:///w/lib.py:9" in texts  # class Ledger


def test_definition_from_the_workspace_index(tmp_path):
    (tmp_path / "lib.go").write_text("package lib\n\n// Scale multiplies.\nfunc Scale(x int) int {\n\treturn x * 2\n}\n")
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "other.go").write_text("package x\n\nfunc Scale(y int) int { return y }\n")
    (tmp_path / ".gitignore").write_text("ignored/\n")
    index = WorkspaceIndex(use_process=False)
    index.start(tmp_path)
    assert index.wait(30)
    try:
        ctx = build_at("package main\n\nfunc main() {\n\tv := Scale(|)\n}\n", uri=(tmp_path / "main.go").as_uri(),
                       index=index)
    finally:
        index.close()
    definitions = [p for p in ctx.parts if p.source == "definition"]
    assert [p.origin for p in definitions] == [(tmp_path / "lib.go").as_uri() + ":4"]
    assert definitions[0].text == "// Scale multiplies.\nfunc Scale(x int) int { … }"


def test_open_document_wins_over_its_stale_index_copy(tmp_path):
    (tmp_path / "lib.py").write_text("def helper(old):\n    pass\n")
    index = WorkspaceIndex(use_process=False)
    index.start(tmp_path)
    index.wait(30)
    store = DocumentStore()
    open_text(store, (tmp_path / "lib.py").as_uri(), "def helper(new_signature):\n    pass\n")
    ctx = build_at("helper(|)\n", uri=(tmp_path / "main.py").as_uri(), store=store, index=index)
    index.close()
    texts = [p.text for p in ctx.parts if p.source == "definition"]
    assert texts == ["def helper(new_signature):\n    ..."]


def test_recent_places_scored_by_shared_identifiers():
    store = DocumentStore()
    other = "\n".join(f"# filler {i}" for i in range(40)) + "\nledger_total = ledger.balance + pending_amount\n"
    open_text(store, "file:///w/other.py", other)
    open_text(store, "file:///w/unrelated.py", "colour = 'blue'\nshade = colour\n")
    text, offset = split_cursor("ledger = load()\npending_amount = 3\nprint(ledger.balance|)\n")
    open_text(store, "file:///w/main.py", text)
    builder = ContextBuilder(store, count_tokens)
    builder.note_viewed("file:///w/unrelated.py", Position(line=0, character=0))
    builder.note_edited("file:///w/other.py", Position(line=40, character=5))
    ctx = builder.build("file:///w/main.py", store.position_at("file:///w/main.py", offset), 2000)
    recent = [p for p in ctx.parts if p.source == "recent"]
    assert [p.origin for p in recent] == ["file:///w/other.py:33"]
    assert "ledger_total = ledger.balance + pending_amount" in recent[0].text


@pytest.mark.parametrize("budget", [200, 300, 500, 1000, 4000])
def test_parts_fit_the_budget_and_counts_are_honest(budget):
    store = DocumentStore()
    open_text(store, "file:///w/lib.py", LIB)
    body = "\n".join(f"    value_{i} = parse_price(str({i}))" for i in range(120))
    code = f"import os\nfrom lib import parse_price\n\n\ndef compute():\n{body}\n    total = |\n    return total\n"
    text, offset = split_cursor(code)
    open_text(store, "file:///w/main.py", text)
    builder = ContextBuilder(store, count_tokens)
    ctx = builder.build("file:///w/main.py", store.position_at("file:///w/main.py", offset), budget)
    assert ctx.total_tokens <= budget
    for part in ctx.parts:
        assert part.tokens == builder.tokens(part.text)
    # A prefix that does not reach the top of the file starts at a statement.
    assert ctx.prefix.startswith(("    value_", "def compute", "import", "from", "\n"))
    assert text[: ctx.offset].endswith(ctx.prefix)


def test_prefix_starts_at_a_statement_not_inside_a_multi_line_call():
    args = "\n".join(f"        argument_number_{i}," for i in range(30))
    code = f"def f():\n    result = call(\n{args}\n    )\n    a = 1\n    b = 2\n    return |\n"
    ctx = build_at(code, budget=260)
    assert ctx.prefix.startswith("    a = 1\n"), ctx.prefix[:60]


def test_prefix_keeps_whole_lines_when_no_statement_starts_nearby():
    args = "\n".join(f"        argument_number_{i}," for i in range(30))
    ctx = build_at(f"def f():\n    result = call(\n{args}\n    )\n    return |\n", budget=260)
    assert ctx.prefix.startswith("        argument_number_") and ctx.prefix.endswith("    )\n    return ")


def test_plain_text_windows_for_unknown_languages():
    ctx = build_at("first line\nsecond |line\nthird\n", uri="file:///w/notes.xyz")
    assert ctx.language is None
    assert [p.source for p in ctx.parts] == ["prefix", "suffix"]
    assert ctx.prefix == "first line\nsecond " and ctx.suffix == "line\nthird\n"
    assert ctx.mode == "single"


def test_unknown_document_and_bad_budget_are_clear_errors():
    store = DocumentStore()
    builder = ContextBuilder(store, count_tokens)
    with pytest.raises(UnknownDocument):
        builder.build("file:///nope.py", Position(line=0, character=0), 100)
    open_text(store, "file:///a.py", "x = 1\n")
    with pytest.raises(ValueError, match="budget"):
        builder.build("file:///a.py", Position(line=0, character=0), 0)


def test_after_a_decorator_is_multi_line():
    ctx = build_at("import functools\n\n@functools.cache\n|\n")
    assert (ctx.mode, ctx.reason, ctx.indent) == ("multi", "after a decorator", "")


def test_utf16_cursor_after_emoji_and_cjk():
    store = DocumentStore()  # UTF-16 positions, as most editors send
    text = 'greeting = "😀世界"\nname = greeting\n'
    open_text(store, "file:///w/u.py", text)
    builder = ContextBuilder(store, count_tokens)
    # Column 14 in UTF-16: `greeting = "` is 12 units, the emoji 2.
    ctx = builder.build("file:///w/u.py", Position(line=0, character=14), 2000)
    assert ctx.prefix == 'greeting = "😀' and ctx.suffix.startswith('世界"\n')
    assert (ctx.mode, ctx.reason) == ("single", "in a string")
    ctx = builder.build("file:///w/u.py", Position(line=1, character=15), 2000)
    assert ctx.prefix.endswith("name = greeting") and ctx.mode == "single"


@pytest.mark.parametrize("text", [
    "".join(f"line {i} = value_{i}\n" for i in range(200)),
    "".join(f"line {i}\r\n" for i in range(150)) + "tail without a break",
    "".join(f"page {i}\x0cbreak\u2028sep {i}\n" if i % 7 == 0 else f"plain {i}\n" for i in range(150)),
    "".join(f"mixed {i}\r" if i % 5 == 0 else f"mixed {i}\n" for i in range(150)),
])
def test_window_line_counts_are_what_counting_each_line_gives(text):
    """The windows are sized from lines counted a block at a time; every count must equal counting
    that line alone, whatever breaks (CR, CRLF, form feeds, Unicode separators) the text holds."""
    from gemma_lsp.context.builder import _LineWalk

    store = DocumentStore()
    open_text(store, "file:///w/notes.txt", text)
    builder = ContextBuilder(store, lambda piece: 1 + len(piece))  # not additive: splitting changes it
    doc = store.get("file:///w/notes.txt")
    lines = doc.lines
    count = len(lines.starts)
    for cursor in (0, 1, 63, 64, 65, count // 2, count - 2, count - 1):
        walk = _LineWalk(builder, doc, cursor)
        for i in range(cursor):
            assert walk.above(i) == builder.tokens(lines.line_text(cursor - 1 - i) + "\n"), (cursor, i)
        for i in range(count - 1 - cursor):
            assert walk.below(i) == builder.tokens("\n" + lines.line_text(cursor + 1 + i)), (cursor, i)


def test_a_reused_builder_builds_what_a_fresh_one_does_after_edits_anywhere():
    """The builder keeps the last build's window counts per document; edits above, below and on the
    cursor's line (joined and split lines included) must give the context a fresh builder gives."""
    from lsprotocol.types import Range, TextDocumentContentChangePartial

    uri = "file:///w/main.py"
    store = DocumentStore()
    body = "\n".join(f"    value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 150))
    open_text(store, uri, f"def compute(a, b):\n    return a + b\n\n\ndef run():\n    value_0 = 0\n{body}\n")
    kept = ContextBuilder(store, count_tokens)
    edits = [((70, 10), (70, 10), "x"), ((70, 11), (70, 11), "y"), ((20, 0), (20, 0), "    extra = 1\n"),
             ((71, 12), (71, 12), "z"), ((130, 4), (130, 4), "long_name_"), ((40, 0), (41, 0), ""),
             ((70, 3), (70, 3), "\n    "), ((69, 5), (69, 5), "q")]
    for version, (start, end, text) in enumerate(edits, start=2):
        store.change(uri, version, [TextDocumentContentChangePartial(
            range=Range(start=Position(*start), end=Position(*end)), text=text)])
        cursor = Position(line=70, character=12)
        for budget in (300, 900):
            assert kept.build(uri, cursor, budget) == ContextBuilder(store, count_tokens).build(uri, cursor, budget)
