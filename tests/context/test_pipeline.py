"""The whole completion path the LSP layer runs, with a canned model reply in place of the model:
build the context, make the prompt, stop early, clean the reply, cache it, type through it."""

from __future__ import annotations

from lsprotocol import types

from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.cache import CompletionCache
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.postprocess import clean_completion
from gemma_lsp.context.prompt import completion_messages, stop_check_for

from .conftest import count_tokens

URI = "file:///w/shop.py"
TEXT = "def total(prices):\n    \n\ndef main():\n    print(total([1, 2]))\n"


def test_completion_path_with_a_canned_reply():
    store = DocumentStore()
    store.open(URI, "python", 1, TEXT)
    builder = ContextBuilder(store, count_tokens)
    ctx = builder.build(URI, types.Position(line=1, character=4), 1000)
    messages, prefill = completion_messages(ctx)
    assert ctx.mode == "multi" and prefill == "```python\n"

    # What a model might stream after the pre-fill: the body, then the next function again.
    streamed = "result = 0\n    for price in prices:\n        result += price\n    return result\n\ndef main():\n"
    stop = stop_check_for(ctx)
    cut = next(i for i in range(1, len(streamed) + 1) if stop(streamed[:i]) is not None)
    raw = streamed[: stop(streamed[:cut])]
    text = clean_completion(raw, ctx)
    assert text == "result = 0\n    for price in prices:\n        result += price\n    return result"

    cache = CompletionCache()
    cache.store(URI, ctx.text_before, ctx.text_after, text)
    # The user types "res": the editor sends the edit; the rest comes from the cache.
    store.change(URI, 2, [types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=1, character=4), end=types.Position(line=1, character=4)),
        text="res")])
    doc = store.get(URI)
    offset = store.offset_at(URI, types.Position(line=1, character=7))
    assert cache.lookup(URI, doc.text[:offset], doc.text[offset:]) == text[3:]
