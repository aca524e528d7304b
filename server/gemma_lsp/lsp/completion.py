"""textDocument/inlineCompletion: get the document, build the context, call the engine, clean, return."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from gemma_lsp.engine.base import Cancelled, EngineError, GenerationRequest, ModelUnavailable, Priority
from gemma_lsp.lsp import completion_prompt
from gemma_lsp.lsp.errors import DocumentNotOpen

log = logging.getLogger(__name__)


async def inline_completion(server: Any, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    empty = types.InlineCompletionList(items=[])
    if not server.settings.completion.enabled:
        return empty
    try:
        doc = server.open_document(params.text_document.uri)
    except DocumentNotOpen:
        log.info("inline completion for a document that is not open: %s", params.text_document.uri)
        return empty
    try:
        engine = await server.get_engine()
    except ModelUnavailable:
        return empty  # already shown to the user once; completions stay quiet
    prompt = completion_prompt.build(doc, params.position, server.settings)
    request = GenerationRequest(
        messages=prompt.messages,
        prefill=prompt.prefill,
        max_new_tokens=server.settings.max_new_tokens,
        priority=Priority.INTERACTIVE,
        purpose="completion",
        supersede_key=f"completion:{params.text_document.uri}",
        stop=prompt.stop,
        stop_check=prompt.stop_check,
    )
    try:
        result = await engine.generate(request)
    except Cancelled:
        return empty
    except EngineError as error:
        log.warning("completion failed: %s", error)
        return empty
    text = completion_prompt.clean(result.text, prompt)
    log.info("completion: %d chars (%s, %d tokens, %.0f ms)", len(text), result.finish_reason,
             result.stats.new_tokens, result.stats.seconds * 1000)
    if not text:
        return empty
    position = params.position
    return types.InlineCompletionList(items=[
        types.InlineCompletionItem(insert_text=text, range=types.Range(start=position, end=position))
    ])


def register(server: Any) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def on_inline_completion(ls: Any, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        return await inline_completion(ls, params)
