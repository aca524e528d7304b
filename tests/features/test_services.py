"""The completion, explain and fix services below LSP: a scripted model (its canned text still goes
through the real chat template, codec and post-processing), real documents and real edits."""

from __future__ import annotations

import pytest

from gemma_lsp.agent.edits import FixRefused, Snapshot, apply_text_edits
from gemma_lsp.agent.prompts import CodeFocus
from gemma_lsp.config import Settings
from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.positions import Position
from gemma_lsp.engine.base import Cancelled, CancelToken
from gemma_lsp.engine.scripted import ScriptedEngine
from gemma_lsp.features.completion import complete
from gemma_lsp.features.explain import explain
from gemma_lsp.features.fix import propose_fix
from gemma_lsp.gemma4.tokens import estimate_tokens

CALC = "def add(a, b):\n    return a - b\n"
URI = "file:///w/calc.py"
FOCUS = CodeFocus("calc.py", "python", CALC, 1, 1, diagnostic="AssertionError: assert add(1, 2) == 3")


async def test_complete_returns_the_cleaned_text_and_its_context():
    store = DocumentStore()
    store.open(URI, "python", 1, "def add(a, b):\n    return \n")
    engine = ScriptedEngine(script={"completion": ["a + b\n```"]})
    text, ctx = await complete(engine, ContextBuilder(store, estimate_tokens), URI, Position(1, 11), Settings())
    assert text == "a + b" and ctx.mode == "single"
    (call,) = engine.calls
    assert call.purpose == "completion" and "return <CURSOR>" in call.prompt


async def test_explain_returns_the_models_markdown_and_says_when_it_was_cut():
    engine = ScriptedEngine(script={"explain": ["`add` subtracts.", "word " * 2000, ""]})
    assert await explain(engine, FOCUS, CancelToken()) == "`add` subtracts."
    cut = await explain(engine, FOCUS, CancelToken())
    assert cut.startswith("word word") and cut.endswith("_(The explanation was cut at its length limit.)_")
    assert await explain(engine, FOCUS, CancelToken()) == "_The model gave no explanation._"


async def test_a_cancelled_explanation_raises_cancelled():
    cancel = CancelToken()
    cancel.cancel("the user moved on")
    with pytest.raises(Cancelled):
        await explain(ScriptedEngine(script={"explain": ["never shown"]}), FOCUS, cancel)


async def test_propose_fix_is_an_edit_pinned_to_the_documents_version():
    document = Snapshot(URI, CALC, 7, language_id="python", encoding="utf-16")
    engine = ScriptedEngine(script={"fix": ["```python\ndef add(a, b):\n    return a + b\n```", "No idea."]})
    edit = await propose_fix(engine, FOCUS, document, CancelToken())
    (change,) = edit.document_changes
    assert change.text_document.version == 7
    assert apply_text_edits(CALC, change.edits, "utf-16") == CALC.replace("-", "+")
    with pytest.raises(FixRefused):
        await propose_fix(engine, FOCUS, document, CancelToken())
