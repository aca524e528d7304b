"""Explain: a markdown explanation of a piece of code (a diagnostic's lines or a selection)."""

from __future__ import annotations

from gemma_lsp.agent import prompts
from gemma_lsp.engine.base import Cancelled, CancelToken, Engine, GenerationRequest, Priority
from gemma_lsp.gemma4.codec import parse_model_output

EXPLAIN_TOKENS = 768


async def explain(engine: Engine, focus: prompts.CodeFocus, cancel: CancelToken,
                  question: str | None = None) -> str:
    """A markdown explanation of the focus. Raises engine errors (Cancelled, EngineError)."""
    request = GenerationRequest(messages=prompts.explain_messages(focus, question),
                                max_new_tokens=EXPLAIN_TOKENS, priority=Priority.FOREGROUND,
                                purpose="explain", cancel=cancel)
    completion = await engine.generate(request)
    if completion.finish_reason == "cancelled":
        raise Cancelled(cancel.reason or "cancelled")
    text = parse_model_output(completion.text).text.strip()
    if completion.finish_reason == "length":
        text += "\n\n_(The explanation was cut at its length limit.)_"
    return text or "_The model gave no explanation._"
