"""Work-done progress for slow work: model loading, resolving a fix, explain, fix and debug.

Every client shows server-created progress with its standard UI (Neovim's vim.lsp.status() and
LspProgress, fidget.nvim, VS Code's progress), so no editor needs code of its own to show it. The
shape (docs/protocol.md): `begin.title` "Gemma", `message` what happens in lower case ("explaining…"),
reports as the work goes on, and `end.message` the outcome ("done", "cancelled", "no usable fix").

A `Progress` may be reported from any thread (the model loads in one); it is a no-op when the client
cannot show progress or refused the token, so callers never check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from gemma_lsp.agent.edits import FixRefused
from gemma_lsp.engine.base import Cancelled, CancelToken

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

TITLE = "Gemma"
CREATE_TIMEOUT_SECONDS = 5.0


def client_shows_progress(server: GemmaServer) -> bool:
    """Whether the client said it shows server-created progress (window.workDoneProgress)."""
    caps = server.client_capabilities.window if server.client_capabilities else None
    return bool(caps and caps.work_done_progress)


class Progress:
    """One work-done progress token from begin to end (see the module docstring)."""

    def __init__(self, server: GemmaServer, token: str | int | None) -> None:
        self.server, self.token = server, token
        self.outcome = "done"  # what progress_of ends with when the work returns normally
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    @classmethod
    async def begin(cls, server: GemmaServer, message: str | None, *, token: str | int | None = None, title: str = TITLE,
                    cancel: CancelToken | None = None, percentage: int | None = None) -> Progress:
        """Begin progress on the client's `token`, else on one the server creates (when the client shows
        progress at all). With `cancel`, the progress is cancellable and the client's cancel sets it."""
        if token is None and client_shows_progress(server):
            token = f"gemma-{uuid.uuid4().hex[:8]}"
            try:
                await asyncio.wait_for(server.work_done_progress.create_async(token), CREATE_TIMEOUT_SECONDS)
            except Exception:
                log.info("the client refused a progress token; %s goes on without progress", message or title)
                token = None
        progress = cls(server, token)
        if token is not None:
            server.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(
                title=title, message=message, cancellable=cancel is not None, percentage=percentage))
            future = server.work_done_progress.tokens.get(token)
            if future is not None and cancel is not None:  # window/workDoneProgress/cancel cancels it
                future.add_done_callback(lambda f: cancel.cancel("cancelled") if f.cancelled() else None)
        return progress

    def report(self, message: str, percentage: int | None = None) -> None:
        """Report a step; safe from any thread (reports keep their order)."""
        if self.token is None:
            return
        value = lsp.WorkDoneProgressReport(message=message, percentage=percentage)
        if threading.get_ident() == self._loop_thread:
            self.server.work_done_progress.report(self.token, value)
        else:
            self._loop.call_soon_threadsafe(self.server.work_done_progress.report, self.token, value)

    def end(self, message: str) -> None:
        """End the progress with its outcome; later calls do nothing. Call it on the event loop."""
        if self.token is None:
            return
        token, self.token = self.token, None
        self.server.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(token, None)  # pygls never forgets a token itself


@contextlib.asynccontextmanager
async def progress_of(server: GemmaServer, message: str, *, token: str | int | None = None,
                      cancel: CancelToken | None = None) -> AsyncIterator[Progress]:
    """Progress around a request's work: ends with `progress.outcome` ("done" unless the caller set
    another), or with what the exception that ended the work means to the user."""
    progress = await Progress.begin(server, message, token=token, cancel=cancel)
    try:
        yield progress
    except BaseException as error:
        progress.end(_outcome_of(error))
        raise
    progress.end(progress.outcome)


def _outcome_of(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError | Cancelled) or str(error) == "cancelled":
        return "cancelled"
    if isinstance(error, FixRefused):
        return "no usable fix"
    return "failed"
