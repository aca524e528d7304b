"""Inline completion: build the context at a place, call the engine, clean the reply.

The LSP handler (lsp/completion.py) and `gemma-lsp complete` (cli.py) both call `complete()`.
"""

from __future__ import annotations

import logging

from gemma_lsp.config import Settings
from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.parts import CompletionContext
from gemma_lsp.context.positions import Position
from gemma_lsp.context.postprocess import clean_completion
from gemma_lsp.context.prompt import completion_messages, stop_check_for
from gemma_lsp.engine.base import Cancelled, Engine, GenerationRequest, Priority

log = logging.getLogger(__name__)


def completion_request(builder: ContextBuilder, uri: str, position: Position,
                       settings: Settings) -> tuple[CompletionContext, GenerationRequest]:
    """The context at `position` and the engine request that completes it."""
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


async def complete(engine: Engine, builder: ContextBuilder, uri: str, position: Position,
                   settings: Settings) -> tuple[str, CompletionContext]:
    """Run one completion; returns the text to insert ("" rather than garbage) and its context.
    Raises Cancelled when a newer request superseded it, EngineError when the model failed."""
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
