"""Several inline suggestions for one position (issue 16 item 3, docs/protocol.md).

An Invoked inline-completion request (the user asked, or is cycling) gets up to N suggestions: the
greedy completion first, exactly what an Automatic request at the same position returns, then the
engine's alternatives (engine/branching.py for the local engine). Every one goes through the same
post-processing as a single completion; the ones that come out empty or equal to an earlier one are
dropped, so the list may be shorter than N.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gemma_lsp.context.builder import CompletionContext
from gemma_lsp.context.postprocess import clean_completion
from gemma_lsp.engine.base import Cancelled, Engine, GenerationRequest

log = logging.getLogger(__name__)


@dataclass
class Suggestions:
    texts: list[str]  # what to offer, in order; the greedy one first whenever it is not empty
    greedy: str  # the greedy completion after post-processing ("" when it came out empty)


async def suggest(engine: Engine, ctx: CompletionContext, request: GenerationRequest, n: int,
                  shown: str = "") -> Suggestions:
    """Up to `n` distinct suggestions for the completion `request` built for `ctx`.

    `shown` is a suggestion the client already has for this position (the completion cache's, which
    an Automatic request would return): it stays first. Raises Cancelled when the request was."""
    results = await engine.alternatives(request, n)
    if not results or results[0].finish_reason == "cancelled":
        raise Cancelled("superseded")
    greedy = clean_completion(results[0].text, ctx)
    texts = distinct([shown, greedy, *(clean_completion(result.text, ctx) for result in results[1:])])[:n]
    log.info("alternatives %s: %d of %d asked (%d from the model)", ctx.path, len(texts), n, len(results))
    return Suggestions(texts, greedy)


def distinct(texts: list[str]) -> list[str]:
    """The non-empty texts, each once, in their first order."""
    return list(dict.fromkeys(text for text in texts if text))
