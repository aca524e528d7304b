"""Document sync into the server's one DocumentStore (context/documents.py): every open document keeps
its text and tree-sitter tree, updated incrementally on each change; saves and file-watcher events
refresh the workspace index. pygls' workspace keeps no copy of the text (lsp/protocol.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

from gemma_lsp.context.documents import StaleVersion, UnknownDocument
from gemma_lsp.lsp import next_edit

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)


def register(server: GemmaServer) -> None:
    # Handlers close over the typed `server` (pygls passes the same object as `ls`; its type hints
    # are read at run time, where GemmaServer is only a name for the type checker).
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        server.documents.open(doc.uri, doc.language_id, doc.version, doc.text)
        server.completion_cache.invalidate(doc.uri)
        server.context_builder.note_viewed(doc.uri, types.Position(0, 0))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        try:
            server.documents.change(uri, params.text_document.version, list(params.content_changes))
        except StaleVersion as error:
            # A client bug (versions only grow), but the change is what the editor did to its text:
            # apply it at the current version rather than drift away from the editor's text.
            log.warning("%s; applying it anyway", error)
            current = server.documents.get(uri)
            if current is not None:
                server.documents.change(uri, current.version, list(params.content_changes))
                server.completion_cache.invalidate(uri)
        except UnknownDocument as error:
            log.warning("%s; ignored", error)
            return
        next_edit.document_changed(server, uri)  # a running prediction was for the text before this change
        last = params.content_changes[-1] if params.content_changes else None
        if isinstance(last, types.TextDocumentContentChangePartial):
            server.context_builder.note_edited(uri, last.range.start)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        server.documents.close(params.text_document.uri)
        server.completion_cache.invalidate(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        path = to_fs_path(params.text_document.uri)
        if server.index is not None and path:
            server.index.update_file(path)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        if server.index is None:
            return
        for change in params.changes:
            path = to_fs_path(change.uri)
            if not path:
                continue
            if change.type == types.FileChangeType.Deleted:
                server.index.remove_file(path)
            else:
                server.index.update_file(path)
