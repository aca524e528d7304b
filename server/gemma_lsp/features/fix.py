"""Fix: the model rewrites the lines in question; the reply becomes a versioned edit (agent.edits)."""

from __future__ import annotations

from gemma_lsp.agent import prompts
from gemma_lsp.agent.edits import Snapshot, WorkspaceEdit, region_fix
from gemma_lsp.context.positions import split_lines
from gemma_lsp.engine.base import Cancelled, CancelToken, Engine, GenerationRequest, Priority
from gemma_lsp.gemma4.codec import parse_model_output

FIX_TOKENS_MAX = 2048


async def propose_fix(engine: Engine, focus: prompts.CodeFocus, document: Snapshot, cancel: CancelToken,
                      instruction: str | None = None) -> WorkspaceEdit:
    """A versioned edit that fixes the focus, computed against `document` (pinned to its version).

    Raises FixRefused (with the reason for the user) when the reply holds no usable fix, and engine
    errors (Cancelled, EngineError).
    """
    first, last = prompts.fix_region(focus)
    region = "\n".join(split_lines(focus.text)[first:last + 1])
    budget = min(FIX_TOKENS_MAX, 2 * engine.count_tokens(region) + 256)
    request = GenerationRequest(messages=prompts.fix_messages(focus, instruction), max_new_tokens=budget,
                                priority=Priority.FOREGROUND, purpose="fix", cancel=cancel)
    completion = await engine.generate(request)
    if completion.finish_reason == "cancelled":
        raise Cancelled(cancel.reason or "cancelled")
    reply = parse_model_output(completion.text).text
    return region_fix(document, first, last, reply)
