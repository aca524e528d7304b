"""textDocument/inlineCompletion: get the document, build the context, call the engine, clean, return.

A suggestion the user is typing through is answered from the completion cache without a model call.
An Invoked request (the user asked, or cycles) gets up to `completion.alternatives` items
(features/alternatives.py); an Automatic one gets the single greedy suggestion.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from gemma_lsp.context.builder import CompletionContext, ContextBuilder
from gemma_lsp.context.postprocess import clean_completion
from gemma_lsp.context.prompt import completion_messages, stop_check_for
from gemma_lsp.engine.base import (
    Cancelled,
    Engine,
    EngineError,
    GenerationRequest,
    ModelUnavailable,
    Priority,
)
from gemma_lsp.features import alternatives

log = logging.getLogger(__name__)


def completion_request(builder: ContextBuilder, uri: str, position: types.Position,
                       settings: Any) -> tuple[CompletionContext, GenerationRequest]:
    """The context at `position` and the engine request that completes it (shared with the CLI)."""
    ctx = builder.build(uri, position, settings.prompt_budget_tokens)
    messages, prefill = completion_messages(ctx)
    request = GenerationRequest(
        messages=messages,
        prefill=prefill,
        max_new_tokens=settings.max_new_tokens,
        priority=Priority.INTERACTIVE,
        purpose="completion",
        supersede_key=f"completion:{uri}",
        # The closing fence ends the reply; as a stop string it is also held back while it may still be
        # forming, so a lone backtick never reaches the editor.
        stop=["```"],
        stop_check=stop_check_for(ctx),
    )
    return ctx, request


async def complete(engine: Engine, builder: ContextBuilder, uri: str, position: types.Position,
                   settings: Any) -> tuple[str, CompletionContext]:
    """Run one completion; returns the text to insert ("" rather than garbage) and its context."""
    ctx, request = completion_request(builder, uri, position, settings)
    result = await engine.generate(request)
    if result.finish_reason == "cancelled":
        raise Cancelled("superseded")
    text = clean_completion(result.text, ctx)
    stats = result.stats
    log.info("completion %s: %d chars (%s mode, %s, %d prompt tokens, %d new, %.0f ms, acceptance %.0f%%)",
             ctx.path, len(text), ctx.mode, result.finish_reason, stats.prompt_tokens, stats.new_tokens,
             stats.seconds * 1000, stats.acceptance_rate * 100)
    return text, ctx


def _items(texts: list[str], position: types.Position) -> types.InlineCompletionList:
    return types.InlineCompletionList(items=[
        types.InlineCompletionItem(insert_text=text, range=types.Range(start=position, end=position))
        for text in texts
    ])


async def inline_completion(server: Any, params: types.InlineCompletionParams) -> types.InlineCompletionList:
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


async def _alternative_items(server: Any, uri: str, position: types.Position,
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


def register(server: Any) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def on_inline_completion(ls: Any, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return await inline_completion(ls, params)
