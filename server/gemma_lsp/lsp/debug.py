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
from typing import Any

from lsprotocol import types as lsp

from gemma_lsp.agent import session
from gemma_lsp.agent.loop import LIMIT_NAMES, Step
from gemma_lsp.engine.base import CancelToken
from gemma_lsp.lsp import proposals, targets
from gemma_lsp.lsp.code_actions import deliver_markdown, engine_of
from gemma_lsp.lsp.progress import Progress
from gemma_lsp.lsp.targets import RequestError

log = logging.getLogger(__name__)

DEBUG = "gemma.debug"
# How a session's end reads in its progress (limits are named from LIMIT_NAMES).
_OUTCOMES = {"answered": "done", "cancelled": "cancelled", "error": "failed"}
_offers: set[asyncio.Future] = set()


def _toolbox(workspace: Path, settings: Any) -> tuple[Any, list[Any], Any]:
    """(executor, tool declarations, describe) for a workspace; RequestError when the tools cannot load."""
    try:
        from gemma_lsp.toolbox import ToolCatalog, ToolExecutor, ToolSettings, describe_call
    except ImportError as error:
        raise RequestError(f"the debug tools are not available in this build ({error})") from error
    try:
        catalog = ToolCatalog.load(workspace)
    except Exception as error:
        raise RequestError(f"the tool catalog could not be loaded: {error}") from error
    for problem in getattr(catalog, "problems", []) or []:
        log.warning("workspace tool skipped: %s", problem)
    executor = ToolExecutor(catalog, workspace, ToolSettings.from_settings(settings))
    return executor, list(catalog.specs()), lambda call: describe_call(call, catalog)


async def debug_command(server: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    """Run one ask-to-debug session (see the module docstring)."""
    target = targets.parse_target(DEBUG, args, extras=("question", "testId"))
    doc = targets.snapshot(server, target.uri)
    targets.check_version(target, doc)
    workspace = server.workspace_root or (doc.path.parent if doc.path else None)
    if workspace is None:
        raise RequestError("ask-to-debug needs a workspace folder (open a folder, or a file on disk)")
    executor, specs, describe = _toolbox(Path(workspace), server.settings)
    engine = await engine_of(server)
    focus = targets.focus_of(server, target, doc)
    cancel = CancelToken()
    progress = await Progress.begin(server, f"debugging {focus.path}…", token=target.work_done_token, cancel=cancel)

    def on_step(step: Step) -> None:
        progress.report(step.message)

    # The snapshots the edit is computed on, so its diff shows exactly what it changes.
    snapshots = {doc.uri: doc}
    snapshot_of = proposals.recording(targets.snapshot_source(server), snapshots)
    try:
        outcome = await session.debug(
            engine, executor, specs, server.settings, focus, doc, Path(workspace),
            snapshot_of, cancel, question=target.question, test_id=target.test_id,
            on_step=on_step, describe=describe, transcripts=server.cache_dir / "transcripts")
    except asyncio.CancelledError:
        cancel.cancel("cancelled")
        progress.end("cancelled")
        raise
    except Exception:
        progress.end("failed")
        raise
    ended = LIMIT_NAMES.get(outcome.stop_reason)
    progress.end(f"stopped at the limit on {ended}" if ended else _OUTCOMES.get(outcome.stop_reason, "done"))
    answer = proposals.answer_with_diffs(server, outcome.answer, Path(workspace), doc, snapshot_of)
    proposal = proposals.proposal_of(server, outcome.edit, snapshots) if outcome.edit is not None else None
    log.info("debug session: %s after %d tool calls, %d tokens, %.1f s; %s", outcome.stop_reason,
             outcome.result.tool_calls, outcome.result.tokens, outcome.result.seconds, outcome.edit_message)
    if not server.settings.client_renders_explanations and outcome.stop_reason != "cancelled":
        answer_path = session.private_file(server.cache_dir / "explanations", session.unique_name("debug"),
                                           f"# Debugging {focus.path}\n\n{answer}\n")
        await deliver_markdown(server, f"Debugging {focus.path}", answer, answer_path)
        if outcome.edit is not None:
            task = asyncio.ensure_future(_offer_edit(server, outcome.edit, outcome.edit_message))
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


async def _offer_edit(server: Any, edit: lsp.WorkspaceEdit, message: str) -> None:
    """Generic clients: ask whether to apply the proposed edit (window/showMessageRequest)."""
    try:
        choice = await server.window_show_message_request_async(lsp.ShowMessageRequestParams(
            type=lsp.MessageType.Info, message=f"gemma-lsp: {message} Apply it?",
            actions=[lsp.MessageActionItem(title="Apply"), lsp.MessageActionItem(title="Dismiss")]))
        if choice is not None and choice.title == "Apply":
            result = await server.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=edit, label="Gemma: debug fix"))
            if not result.applied:
                targets.show(server, f"the fix was not applied: {result.failure_reason or 'refused by the editor'}")
    except Exception:
        log.info("could not offer the edit to the client", exc_info=True)


def register(server: Any) -> None:
    @server.command(DEBUG)
    async def on_debug(ls: Any, *args: Any) -> dict[str, Any]:
        return await debug_command(ls, args)
