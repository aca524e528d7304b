"""textDocument/inlineCompletion: parse the request, call features.completion, convert the result.

A suggestion the user is typing through is answered from the completion cache without a model call.
An Invoked request (the user asked, or cycles) gets up to `completion.alternatives` items
(features/alternatives.py); an Automatic one gets the single greedy suggestion.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from gemma_lsp.engine.base import Cancelled, EngineError, ModelUnavailable
from gemma_lsp.features import alternatives
from gemma_lsp.features.completion import complete, completion_request

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)


def _items(texts: list[str], position: types.Position) -> types.InlineCompletionList:
    return types.InlineCompletionList(items=[
        types.InlineCompletionItem(insert_text=text, range=types.Range(start=position, end=position))
        for text in texts
    ])


async def inline_completion(server: GemmaServer,
                            params: types.InlineCompletionParams) -> types.InlineCompletionList:
    empty = types.InlineCompletionList(items=[])
    uri, position = params.text_document.uri, params.position
    doc = server.documents.get(uri)
    if not server.settings.completion.enabled or doc is None:
        return empty
    if position.line >= len(doc.lines.starts):
        return empty  # a stale or bogus position past the end of the document: nothing to complete
    offset = server.documents.offset_at(uri, position)
    cached = server.completion_cache.lookup(uri, doc.text[:offset], doc.text[offset:])
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    if invoked and server.settings.completion.alternatives > 1:
        return await _alternative_items(server, uri, position, cached or "")
    if cached:
        return _items([cached], position)
    try:
        engine = await server.get_engine()
    except ModelUnavailable:
        return empty  # already shown to the user once; completions stay quiet
    try:
        with server.busy():
            text, ctx = await complete(engine, server.context_builder, uri, position, server.settings)
    except Cancelled:
        return empty
    except EngineError as error:
        log.warning("completion failed: %s", error)
        return empty
    if not text:
        return empty
    server.completion_cache.store(uri, ctx.text_before, ctx.text_after, text)
    return _items([text], position)


async def _alternative_items(server: GemmaServer, uri: str, position: types.Position,
                             cached: str) -> types.InlineCompletionList:
    """The suggestion an Automatic request would give (`cached` when there is one), then alternatives."""
    shown = [cached] if cached else []
    try:
        engine = await server.get_engine()
    except ModelUnavailable:
        return _items(shown, position)
    try:
        with server.busy():
            ctx, request = completion_request(server.context_builder, uri, position, server.settings)
            found = await alternatives.suggest(engine, ctx, request, server.settings.completion.alternatives,
                                               shown=cached)
    except Cancelled:
        return _items([], position)
    except EngineError as error:
        log.warning("completion alternatives failed: %s", error)
        return _items(shown, position)
    if found.greedy and not cached:
        server.completion_cache.store(uri, ctx.text_before, ctx.text_after, found.greedy)
    return _items(found.texts, position)


def register(server: GemmaServer) -> None:
    # Handlers close over the typed `server` (pygls passes the same object as `ls`; its type hints
    # are read at run time, where GemmaServer is only a name for the type checker).
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def on_inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return await inline_completion(server, params)
