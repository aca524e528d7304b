"""`gemma.debug`: an ask-to-debug session with tools, reported step by step as work-done progress.

    gemma.debug [{uri, position? | range?, question?, testId?, version?, workDoneToken?}]
      → {answer, proposal, edit, editMessage, stopReason, limit, transcript}

The session runs the tool loop (agent.loop) with the workspace's tool catalog in the sandbox. Each model
turn and tool call is a progress report ("running tests…", "reading src/app.py:40-80"). The user stops
it with the progress's cancel button or `$/cancelRequest`; either sets the one cancel token that the
engine and the running tool watch. `edit` is a WorkspaceEdit pinned to the document versions it was
computed from, or null; the client offers to apply it. The server never edits files itself.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemma_lsp.agent.loop import LIMIT_NAMES, Step
from gemma_lsp.engine.base import CancelToken
from gemma_lsp.features.debug import DebugRequest, ToolsUnavailable, debug, load_toolbox
from gemma_lsp.features.proposals import answer_with_diffs, recording
from gemma_lsp.features.transcripts import save_markdown
from gemma_lsp.lsp import proposals, targets
from gemma_lsp.lsp.delivery import deliver_markdown, offer_edit
from gemma_lsp.lsp.progress import Progress
from gemma_lsp.lsp.targets import RequestError, engine_of

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

DEBUG = "gemma.debug"
# How a session's end reads in its progress (limits are named from LIMIT_NAMES).
_OUTCOMES = {"answered": "done", "cancelled": "cancelled", "error": "failed"}
_offers: set[asyncio.Future] = set()


async def debug_command(server: GemmaServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """Run one ask-to-debug session (see the module docstring)."""
    target = targets.parse_target(DEBUG, args, extras=("question", "testId"))
    doc = targets.snapshot(server, target.uri)
    targets.check_version(target, doc)
    workspace = server.workspace_root or (doc.path.parent if doc.path else None)
    if workspace is None:
        raise RequestError("ask-to-debug needs a workspace folder (open a folder, or a file on disk)")
    try:
        toolbox = load_toolbox(Path(workspace), server.settings)
    except ToolsUnavailable as error:
        raise RequestError(str(error)) from error
    engine = await engine_of(server)
    focus = targets.focus_of(server, target, doc)
    # The snapshots the edit is computed on, so its diff shows exactly what it changes.
    snapshots = {doc.uri: doc}
    snapshot_of = recording(targets.snapshot_source(server), snapshots)
    request = DebugRequest(focus, doc, Path(workspace), snapshot_of, question=target.question,
                           test_id=target.test_id)
    cancel = CancelToken()
    progress = await Progress.begin(server, f"debugging {focus.path}…", token=target.work_done_token, cancel=cancel)

    def on_step(step: Step) -> None:
        progress.report(step.message)

    try:
        outcome = await debug(engine, toolbox, server.settings, request, cancel, on_step=on_step,
                              transcripts=server.cache_dir / "transcripts")
    except asyncio.CancelledError:
        cancel.cancel("cancelled")
        progress.end("cancelled")
        raise
    except Exception:
        progress.end("failed")
        raise
    ended = LIMIT_NAMES.get(outcome.stop_reason)
    progress.end(f"stopped at the limit on {ended}" if ended else _OUTCOMES.get(outcome.stop_reason, "done"))
    answer = answer_with_diffs(outcome.answer, Path(workspace), doc, snapshot_of,
                               lambda snapshot: targets.display_path(server, snapshot))
    proposal = proposals.proposal_of(server, outcome.edit, snapshots) if outcome.edit is not None else None
    log.info("debug session: %s after %d tool calls, %d tokens, %.1f s; %s", outcome.stop_reason,
             outcome.result.tool_calls, outcome.result.tokens, outcome.result.seconds, outcome.edit_message)
    if not server.settings.client_renders_explanations and outcome.stop_reason != "cancelled":
        title = f"Debugging {focus.path}"
        answer_path = save_markdown(server.cache_dir / "explanations", "debug", title, answer)
        await deliver_markdown(server, title, answer, answer_path)
        if outcome.edit is not None:
            task = asyncio.ensure_future(offer_edit(server, outcome.edit, outcome.edit_message, "Gemma: debug fix"))
            _offers.add(task)  # keep a reference until the user answers
            task.add_done_callback(_offers.discard)
    return {
        "answer": answer,
        "proposal": proposal.to_json() if proposal is not None else None,
        "edit": targets.to_json(outcome.edit) if outcome.edit is not None else None,
        "editMessage": outcome.edit_message,
        "stopReason": outcome.stop_reason,
        "limit": LIMIT_NAMES.get(outcome.stop_reason),
        "transcript": str(outcome.transcript) if outcome.transcript else None,
    }


def register(server: GemmaServer) -> None:
    # Handlers close over the typed `server` (pygls passes the same object as `ls`; its type hints
    # are read at run time, where GemmaServer is only a name for the type checker).
    @server.command(DEBUG)
    async def on_debug(*args: Any) -> dict[str, Any]:
        return await debug_command(server, args)
