"""`gemma/nextEdit`: the edit the user will likely make next near the cursor (features/next_edit.py).

Params `{textDocument: {uri}, position, version}`; result `null` or `{range, newText, label, version}`
(docs/protocol.md). Like inline completions, a newer request for the document supersedes a running
one, and so does any change to the document: the prediction was for text that is gone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from gemma_lsp.engine.base import Cancelled, CancelToken, EngineError, ModelUnavailable
from gemma_lsp.features.next_edit import predict
from gemma_lsp.lsp.errors import DocumentNotOpen
from gemma_lsp.lsp.targets import BadArguments, RequestError

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

METHOD = "gemma/nextEdit"


def _plain(value: Any) -> Any:
    """pygls hands custom requests' params over as nested namedtuples: back to plain JSON."""
    if hasattr(value, "_asdict"):
        return {key: _plain(item) for key, item in value._asdict().items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def parse_params(params: Any) -> tuple[str, types.Position, int | None]:
    """(uri, position, version) from the request's params; BadArguments says what is wrong."""
    raw = _plain(params)
    usage = f'{METHOD} expects {{"textDocument": {{"uri": ...}}, "position": {{"line": L, "character": C}}, "version": V}}'
    if not isinstance(raw, dict):
        raise BadArguments(usage)
    document, position, version = raw.get("textDocument"), raw.get("position"), raw.get("version")
    if not isinstance(document, dict) or not isinstance(document.get("uri"), str) or not isinstance(position, dict):
        raise BadArguments(usage)
    line, character = position.get("line"), position.get("character")
    if not (_count(line) and _count(character)):
        raise BadArguments(f"{METHOD}: position needs non-negative integer line and character")
    assert isinstance(line, int) and isinstance(character, int)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise BadArguments(f"{METHOD}: version must be an integer (the document version the client sees)")
    return document["uri"], types.Position(line=line, character=character), version


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


async def next_edit(server: GemmaServer, params: Any) -> dict[str, Any] | None:
    uri, position, version = parse_params(params)
    doc = server.documents.get(uri)
    if doc is None:
        raise RequestError(str(DocumentNotOpen(uri)))
    if not server.settings.next_edit.enabled or position.line >= len(doc.lines.starts):
        return None
    try:
        engine = await server.get_engine()
    except ModelUnavailable:
        return None  # already shown to the user once; suggestions stay quiet
    cancel = CancelToken()
    running = server.next_edit_running
    if uri in running:
        running[uri].cancel("superseded by a newer request")
    running[uri] = cancel
    try:
        with server.busy():
            prediction = await predict(engine, server.context_builder, server.documents, uri, position, version,
                                       server.settings.prompt_budget_tokens, cancel)
    except Cancelled:
        return None
    except EngineError as error:
        log.warning("next edit failed: %s", error)
        return None
    finally:
        if running.get(uri) is cancel:
            del running[uri]
    edit = prediction.edit
    if edit is None:
        log.info("next edit %s: none (%s)", uri, prediction.reason)
        return None
    start, end = server.documents.position_at(uri, edit.start), server.documents.position_at(uri, edit.end)
    log.info("next edit %s: %s", uri, edit.label)
    return {
        "range": {"start": {"line": start.line, "character": start.character},
                  "end": {"line": end.line, "character": end.character}},
        "newText": edit.new_text,
        "label": edit.label,
        "version": edit.version,
    }


def document_changed(server: GemmaServer, uri: str) -> None:
    """A change to the document supersedes a prediction running for it (lsp/documents.py calls this)."""
    cancel = server.next_edit_running.pop(uri, None)
    if cancel is not None:
        cancel.cancel("superseded by an edit")


def register(server: GemmaServer) -> None:
    @server.feature(METHOD)
    async def on_next_edit(params: Any) -> dict[str, Any] | None:
        return await next_edit(server, params)
