"""`gemma.debug`: an ask-to-debug session with tools, reported step by step as work-done progress.

    gemma.debug [{uri, position? | range?, question?, testId?, version?, workDoneToken?}]
      → {answer, edit, editMessage, stopReason, limit, transcript}

The session runs the tool loop (agent.loop) with the workspace's tool catalog in the sandbox. Each model
turn and tool call is a progress report ("running tests…", "reading src/app.py:40-80"). The user stops
it with the progress's cancel button or `$/cancelRequest`; either sets the one cancel token that the
engine and the running tool watch. `edit` is a WorkspaceEdit pinned to the document versions it was
computed from, or null; the client offers to apply it. The server never edits files itself.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from gemma_lsp.agent.loop import LIMIT_NAMES, Step
from gemma_lsp.engine.base import CancelToken
from gemma_lsp.features.debug import DebugRequest, ToolsUnavailable, debug, load_toolbox
from gemma_lsp.features.transcripts import save_markdown
from gemma_lsp.lsp import targets
from gemma_lsp.lsp.delivery import deliver_markdown, offer_edit
from gemma_lsp.lsp.targets import RequestError, engine_of

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

DEBUG = "gemma.debug"
_offers: set[asyncio.Future] = set()


class Progress:
    """Work-done progress for one session; a cancel from the client sets the session's token."""

    def __init__(self, server: Any, token: str | int | None, cancel: CancelToken) -> None:
        self.server, self.token, self.cancel = server, token, cancel

    @classmethod
    async def begin(cls, server: Any, token: str | int | None, title: str, cancel: CancelToken) -> Progress:
        if token is None and _client_has_progress(server):
            token = f"gemma-debug-{uuid.uuid4().hex[:8]}"
            try:
                await asyncio.wait_for(server.work_done_progress.create_async(token), 5)
            except Exception:
                log.info("the client refused a progress token; the session runs without progress")
                token = None
        progress = cls(server, token, cancel)
        if token is not None:
            server.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title=title, cancellable=True))
            future = server.work_done_progress.tokens.get(token)
            if future is not None:  # cancelled by the client's window/workDoneProgress/cancel
                future.add_done_callback(lambda f: _cancel_if(f.cancelled(), cancel))
        return progress

    def report(self, message: str) -> None:
        if self.token is not None:
            self.server.work_done_progress.report(self.token, lsp.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        if self.token is not None:
            self.server.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(message=message))
            self.token = None


def _cancel_if(cancelled: bool, cancel: CancelToken) -> None:
    if cancelled:
        cancel.cancel("cancelled")


def _client_has_progress(server: GemmaServer) -> bool:
    caps = server.client_capabilities.window if server.client_capabilities else None
    return bool(caps and caps.work_done_progress)


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
    request = DebugRequest(focus, doc, Path(workspace), targets.snapshot_source(server),
                           question=target.question, test_id=target.test_id)
    cancel = CancelToken()
    progress = await Progress.begin(server, target.work_done_token, f"Gemma: debugging {focus.path}", cancel)

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
    progress.end(f"stopped at the limit on {ended}" if ended else outcome.stop_reason)
    log.info("debug session: %s after %d tool calls, %d tokens, %.1f s; %s", outcome.stop_reason,
             outcome.result.tool_calls, outcome.result.tokens, outcome.result.seconds, outcome.edit_message)
    if not server.settings.client_renders_explanations and outcome.stop_reason != "cancelled":
        title = f"Debugging {focus.path}"
        answer_path = save_markdown(server.cache_dir / "explanations", "debug", title, outcome.answer)
        await deliver_markdown(server, title, outcome.answer, answer_path)
        if outcome.edit is not None:
            task = asyncio.ensure_future(offer_edit(server, outcome.edit, outcome.edit_message, "Gemma: debug fix"))
            _offers.add(task)  # keep a reference until the user answers
            task.add_done_callback(_offers.discard)
    return {
        "answer": outcome.answer,
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
