"""Golden context fixtures: realistic files in every supported language (fixtures/<language>/), cursor
places listed in fixtures/cases.json (inside a method, after the imports, in an empty function body,
at the end of the file, in a string, in a file with a syntax error). Each case checks its expected
completion shape and parts, then compares the whole context and user message with
fixtures/golden/<case>.json. Regenerate after an intended change with GEMMA_LSP_UPDATE_GOLDENS=1 and
review the diff."""

from __future__ import annotations

import json
import os

import pytest

from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.languages import LANGUAGES, language_for
from gemma_lsp.context.prompt import completion_messages

from .conftest import FIXTURES, count_tokens

CASES = json.loads((FIXTURES / "cases.json").read_text("utf-8"))
GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("GEMMA_LSP_UPDATE_GOLDENS") == "1"


def _build(case: dict):
    path = FIXTURES / case["file"]
    text = path.read_text("utf-8")
    before, _, after = case["at"].partition("|")
    snippet = before + after
    assert text.count(snippet) == 1, f"{case['name']}: the cursor snippet must occur exactly once"
    offset = text.index(snippet) + len(before)
    # Python fixtures end in .txt so linters leave their deliberate errors alone.
    uri = f"file:///fixtures/{case['file'].removesuffix('.txt')}"
    store = DocumentStore()
    store.open(uri, language_for(None, uri) or "plaintext", 1, text)
    builder = ContextBuilder(store, count_tokens)
    return builder.build(uri, store.position_at(uri, offset), case["budget"]), store


def test_every_language_has_all_six_cases():
    kinds = {"inside_method", "after_import", "empty_body", "end_of_file", "in_string", "syntax_error"}
    for language in LANGUAGES:
        if language == "tsx":
            continue  # TSX shares TypeScript's grammar family; it has its own two cases
        names = {c["name"].split("/")[1] for c in CASES if c["name"].startswith(language + "/")}
        assert kinds <= names, f"{language} lacks {kinds - names}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_context_case(case):
    ctx, store = _build(case)
    expect = case["expect"]
    assert ctx.mode == expect["mode"]
    if "reason" in expect:
        assert ctx.reason == expect["reason"]
    if "indent" in expect:
        assert ctx.indent == expect["indent"]
    sources = [part.source for part in ctx.parts]
    for source in expect.get("sources", []):
        assert source in sources, f"expected a {source} part, got {sources}"
    shown = "\n".join(part.text for part in ctx.parts)
    for text in expect.get("visible", []):
        # The enclosing signature and the imports are in the prompt, as a part or inside the window.
        assert text in shown, f"{text!r} is not in the context"
    assert ctx.total_tokens <= case["budget"]
    doc = store.get(ctx.uri)
    assert doc.text[: ctx.offset].endswith(ctx.prefix) and doc.text[ctx.offset:].startswith(ctx.suffix)
    if case["name"].endswith("syntax_error"):
        assert doc.tree is not None and doc.tree.root_node.has_error

    messages, prefill = completion_messages(ctx)
    snapshot = {
        "mode": ctx.mode,
        "reason": ctx.reason,
        "indent": ctx.indent,
        "parts": [{"source": p.source, "origin": p.origin, "tokens": p.tokens, "text": p.text} for p in ctx.parts],
        "user_message": messages[1]["content"],
        "prefill": prefill,
    }
    golden = GOLDEN / (case["name"].replace("/", "__") + ".json")
    if UPDATE or not golden.exists():
        if not UPDATE:
            pytest.fail(f"no golden file {golden.name}; run with GEMMA_LSP_UPDATE_GOLDENS=1 and review it")
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert snapshot == json.loads(golden.read_text("utf-8"))
