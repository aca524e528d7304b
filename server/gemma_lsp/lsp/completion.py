"""textDocument/inlineCompletion: parse the request, call features.completion, convert the result.

A suggestion the user is typing through is answered from the completion cache without a model call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from gemma_lsp.engine.base import Cancelled, EngineError, ModelUnavailable
from gemma_lsp.features.completion import complete

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)


def _items(text: str, position: types.Position) -> types.InlineCompletionList:
    return types.InlineCompletionList(items=[
        types.InlineCompletionItem(insert_text=text, range=types.Range(start=position, end=position))
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
    if cached:
        return _items(cached, position)
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
    return _items(text, position)


def register(server: GemmaServer) -> None:
    # Handlers close over the typed `server` (pygls passes the same object as `ls`; its type hints
    # are read at run time, where GemmaServer is only a name for the type checker).
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def on_inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return await inline_completion(server, params)
