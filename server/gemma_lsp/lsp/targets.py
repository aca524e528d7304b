"""What an explain / fix / debug request is about: its validated arguments, the document's snapshot,
and the code focus the prompts are built from; the engine for it, and engine errors as request errors.
Shared by `code_actions` and `debug`.

Arguments come from the client as plain JSON; they are checked here so every bad input gets one clear
message (`RequestError`) and nothing else happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types as lsp
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path

from gemma_lsp.agent.edits import Snapshot, SnapshotSource
from gemma_lsp.agent.prompts import CodeFocus
from gemma_lsp.context.languages import language_for
from gemma_lsp.context.positions import split_lines
from gemma_lsp.engine.base import Cancelled, CancelToken, Engine, EngineError, ModelUnavailable
from gemma_lsp.lsp.errors import DocumentNotOpen, FeatureError

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_DISK_FILE_BYTES = 2 * 1024 * 1024  # a fix may touch a file not open in the editor: read at most this
_converter = get_converter()


class RequestError(JsonRpcException):
    """A request that cannot be served; the message is for the user (LSP RequestFailed)."""

    CODE = lsp.LSPErrorCodes.RequestFailed.value


class BadArguments(JsonRpcException):
    """The client sent arguments this command does not take (JSON-RPC InvalidParams)."""

    CODE = lsp.ErrorCodes.InvalidParams.value


@dataclass
class Target:
    """A validated request: which document, which lines, and the optional extras."""

    uri: str
    range: lsp.Range
    diagnostic: lsp.Diagnostic | None = None
    version: int | None = None  # the version the client saw (code actions carry it)
    instruction: str | None = None
    question: str | None = None
    test_id: str | None = None
    work_done_token: str | int | None = None
    preview: bool = False  # gemma.fix: return the proposal, apply nothing


def to_json(value: Any) -> Any:
    """An lsprotocol object as plain JSON (for command results)."""
    return _converter.unstructure(value)


def parse_target(command: str, args: tuple[Any, ...], *, extras: tuple[str, ...] = ()) -> Target:
    """Validate `[{uri, range | position, diagnostic?, version?, ...extras}]`; raises BadArguments."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise BadArguments(f"{command} takes one argument, an object like "
                           '{"uri": "file:///...", "range": {...}}; got ' + _shape(args))
    obj = args[0]
    known = {"uri", "range", "position", "diagnostic", "version", "workDoneToken", *extras}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise BadArguments(f"{command}: unknown argument {', '.join(unknown)} "
                           f"(it takes {', '.join(sorted(known))})")
    uri = obj.get("uri")
    if not isinstance(uri, str) or not uri:
        raise BadArguments(f"{command}: 'uri' must be the document's URI")
    if "range" in obj:
        rng = _structure(command, "range", obj["range"], lsp.Range)
    elif "position" in obj:
        pos = _structure(command, "position", obj["position"], lsp.Position)
        rng = lsp.Range(start=pos, end=pos)
    else:
        raise BadArguments(f"{command}: give a 'range' or a 'position'")
    if (rng.end.line, rng.end.character) < (rng.start.line, rng.start.character):
        raise BadArguments(f"{command}: the range ends before it starts")
    target = Target(uri=uri, range=rng)
    if obj.get("diagnostic") is not None:
        target.diagnostic = _structure(command, "diagnostic", obj["diagnostic"], lsp.Diagnostic)
    version = obj.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise BadArguments(f"{command}: 'version' must be an integer")
    target.version = version
    token = obj.get("workDoneToken")
    if token is not None and not isinstance(token, str | int):
        raise BadArguments(f"{command}: 'workDoneToken' must be a string or an integer")
    target.work_done_token = token
    preview = obj.get("preview", False)
    if not isinstance(preview, bool):
        raise BadArguments(f"{command}: 'preview' must be true or false")
    target.preview = preview
    for key, attr in (("instruction", "instruction"), ("question", "question"), ("testId", "test_id")):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadArguments(f"{command}: '{key}' must be a string")
        setattr(target, attr, value.strip() or None)
    return target


def _shape(args: tuple[Any, ...]) -> str:
    return f"{len(args)} argument(s)" if args else "none"


def _structure(command: str, name: str, value: Any, kind: type) -> Any:
    try:
        return _converter.structure(value, kind)
    except Exception as error:
        raise BadArguments(f"{command}: '{name}' is not a valid LSP {kind.__name__}") from error


def snapshot(server: GemmaServer, uri: str) -> Snapshot:
    """The open document's text and version now. Raises RequestError if it is not open."""
    try:
        doc = server.open_document(uri)
    except DocumentNotOpen as error:
        raise RequestError(str(error)) from error
    path = to_fs_path(uri)
    return Snapshot(uri=uri, text=doc.text, version=doc.version, path=Path(path) if path else None,
                    language_id=doc.language_id or "", encoding=server.documents.encoding)


def check_version(target: Target, current: Snapshot) -> None:
    """Refuse a request made for an older version of the document than the one open now."""
    if target.version is not None and current.version is not None and target.version != current.version:
        raise RequestError(f"The document changed since this action was offered (version {target.version}, "
                           f"now {current.version}); nothing was changed. Ask again.")


def still_current(server: GemmaServer, before: Snapshot) -> None:
    """Refuse a result computed for a document version the user has since edited."""
    try:
        now = server.open_document(before.uri)
    except DocumentNotOpen as error:
        raise RequestError(f"{before.uri} was closed while the model worked; nothing was changed.") from error
    if now.version != before.version:
        raise RequestError("The document changed while the model worked; nothing was changed. Ask again.")


def focus_of(server: GemmaServer, target: Target, doc: Snapshot) -> CodeFocus:
    """The code the prompts talk about: the target's lines, its diagnostic, the path as the user sees it."""
    lines = split_lines(doc.text) or [""]  # LSP's lines, as the range counts them
    first = min(target.range.start.line, len(lines) - 1)
    last = target.range.end.line
    if last > first and target.range.end.character == 0:
        last -= 1  # a range that ends at the start of a line does not include that line
    last = max(first, min(last, len(lines) - 1))
    diagnostic = None
    if target.diagnostic is not None:
        d = target.diagnostic
        source = " ".join(str(x) for x in (d.source, d.code) if x not in (None, ""))
        diagnostic = d.message + (f" ({source})" if source else "")
    language = doc.language_id or (language_for(None, str(doc.path)) if doc.path else None) or ""
    return CodeFocus(path=display_path(server, doc), language=language,
                     text=doc.text, first_line=first, last_line=last, diagnostic=diagnostic)


def display_path(server: GemmaServer, doc: Snapshot) -> str:
    root = server.workspace_root
    if doc.path is not None and root is not None:
        try:
            return doc.path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return doc.path.name if doc.path is not None else doc.uri


def snapshot_source(server: GemmaServer) -> SnapshotSource:
    """A SnapshotSource for agent.edits: the editor's text when the file is open, else the disk's."""

    def source(path: Path) -> Snapshot:
        uri = from_fs_path(str(path)) or path.as_uri()
        encoding = server.documents.encoding
        doc = server.documents.get(uri)
        if doc is not None:
            return Snapshot(uri=uri, text=doc.text, version=doc.version, path=path,
                            language_id=doc.language_id or "", encoding=encoding)
        if not path.is_file():
            raise FileNotFoundError(path)
        if path.stat().st_size > MAX_DISK_FILE_BYTES:
            raise OSError(f"{path.name} is larger than {MAX_DISK_FILE_BYTES // 1024} KiB")
        # Bytes decoded as they are: read_text would turn "\r\n" and "\r" into "\n", and the edit would
        # then rewrite the file's line breaks.
        return Snapshot(uri=uri, text=path.read_bytes().decode("utf-8"), version=None, path=path, encoding=encoding)

    return source


def show(server: GemmaServer, message: str, kind: lsp.MessageType = lsp.MessageType.Warning) -> None:
    """Tell the user (window/showMessage); never fails the request over it."""
    try:
        server.window_show_message(lsp.ShowMessageParams(type=kind, message=f"gemma-lsp: {message}"))
    except Exception:
        log.debug("could not show a message", exc_info=True)


async def engine_of(server: GemmaServer) -> Engine:
    """The loaded engine, or RequestError when the model is not available (already shown once)."""
    try:
        return await server.get_engine()
    except ModelUnavailable as error:
        raise RequestError(f"the model is not available: {error}") from error


async def cancellable(work: Callable[[CancelToken], Awaitable[T]], cancel: CancelToken | None = None) -> T:
    """Run `work(cancel)`; a cancelled request (task) also sets the token the engine watches. Engine
    errors become RequestError. Pass `cancel` when something else may cancel the work too (the
    progress's cancel button, lsp/progress.py)."""
    cancel = cancel or CancelToken()
    try:
        return await work(cancel)
    except asyncio.CancelledError:
        cancel.cancel("cancelled")
        raise
    except Cancelled as error:
        raise RequestError("cancelled") from error
    except EngineError as error:
        raise RequestError(f"the model failed: {error}") from error


__all__ = ["BadArguments", "FeatureError", "RequestError", "Target", "cancellable", "check_version",
           "engine_of", "focus_of", "parse_target", "show", "snapshot", "snapshot_source", "still_current",
           "to_json"]
