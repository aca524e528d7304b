"""The budget holds for the whole prompt as the model's tokenizer counts it: parts, headings,
instructions and the chat template's markers (with the tiny fixture tokenizer's Gemma 4 template)."""

from __future__ import annotations

import pytest

from gemma_lsp.bench.context import python_module
from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.prompt import completion_messages
from gemma_lsp.features.context_report import tiny_tokenizer_functions

from .conftest import FIXTURES, split_cursor

FILES = {
    "file:///w/big.py": python_module(1, 1500) + "\n\ndef tail():\n    value = load_3(|)\n",
    "file:///w/store.go": (FIXTURES / "go/store.go").read_text().replace("\tvalue, ok := s.items[key]",
                                                                        "\tvalue, ok := s.items[|key]"),
}


@pytest.fixture(scope="module")
def tiny():
    return tiny_tokenizer_functions()


@pytest.mark.parametrize("budget", [700, 1000, 2000, 4096])
@pytest.mark.parametrize("uri", sorted(FILES))
def test_rendered_prompt_fits_the_budget(tiny, uri, budget):
    count, render = tiny
    text, offset = split_cursor(FILES[uri])
    store = DocumentStore()
    store.open(uri, "plaintext", 1, text)
    store.open("file:///w/other.py", "python", 1, python_module(2, 200))
    ctx = ContextBuilder(store, count).build(uri, store.position_at(uri, offset), budget)
    messages, prefill = completion_messages(ctx)
    assert count(render(messages, prefill)) <= budget
    assert ctx.prefix  # something of the file is always shown
