"""Showing a feature's result to clients without Gemma's own UI: open the markdown file (or show it as a
message) and offer a proposed edit with Apply / Dismiss. Shared by `code_actions` and `debug`; clients
that render explanations themselves (gemma.clientRendersExplanations) get neither."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from gemma_lsp.lsp import targets

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

SHOW_MESSAGE_CHARS = 4000


async def deliver_markdown(server: GemmaServer, title: str, markdown: str, path: Path) -> None:
    """For generic clients: open the markdown file (window/showDocument), else show it as a message."""
    caps = server.client_capabilities.window if server.client_capabilities else None
    if caps and caps.show_document and caps.show_document.support:
        uri = from_fs_path(str(path)) or path.as_uri()
        try:
            shown = await asyncio.wait_for(server.window_show_document_async(
                lsp.ShowDocumentParams(uri=uri, take_focus=True)), 10)
            if shown.success:
                return
        except Exception:
            log.info("the client did not open %s; showing the text instead", path, exc_info=True)
    text = f"{title}\n\n{markdown}"
    if len(text) > SHOW_MESSAGE_CHARS:
        text = text[:SHOW_MESSAGE_CHARS] + f"…\n(full text: {path})"
    targets.show(server, text, lsp.MessageType.Info)


async def offer_edit(server: GemmaServer, edit: lsp.WorkspaceEdit, message: str, label: str) -> None:
    """Generic clients: ask whether to apply the proposed edit (window/showMessageRequest)."""
    try:
        choice = await server.window_show_message_request_async(lsp.ShowMessageRequestParams(
            type=lsp.MessageType.Info, message=f"gemma-lsp: {message} Apply it?",
            actions=[lsp.MessageActionItem(title="Apply"), lsp.MessageActionItem(title="Dismiss")]))
        if choice is not None and choice.title == "Apply":
            result = await server.workspace_apply_edit_async(lsp.ApplyWorkspaceEditParams(edit=edit, label=label))
            if not result.applied:
                targets.show(server, f"the fix was not applied: {result.failure_reason or 'refused by the editor'}")
    except Exception:
        log.info("could not offer the edit to the client", exc_info=True)
