"""JSON-RPC framing and the LSP lifecycle, hardened against what pygls 2.1 lets through.

pygls 2.1 drops malformed traffic silently: invalid JSON, a message that is not a JSON-RPC object,
an id of the wrong type, or parameters of the wrong shape get no answer at all, so the client's
request hangs forever. It also serves requests before `initialize` and ignores requests after
`shutdown` without an answer, and `exit` ends the process with code 0 even without `shutdown`.

`GemmaProtocol` answers every request exactly once:

    -32700 parse error       the body is not JSON (id null: it cannot be known)
    -32600 invalid request   not a JSON-RPC 2.0 object, a bad id/method/params type, a message too
                             large, a second `initialize`, or any request after `shutdown`
    -32601 method not found  (pygls)
    -32602 invalid params    parameters that do not match the method's LSP type
    -32002 not initialized   any request before `initialize`

Notifications before `initialize` and after `shutdown` are dropped (except `exit`), as the LSP
specification says. `serve_stdio` replaces pygls' stdio loop (and `serve_tcp` its TCP one, serving one
client the same way): it reads frames on a daemon thread,
tolerates broken headers (it resynchronises on the next `Content-Length`), refuses bodies over
`MAX_MESSAGE_BYTES` without buffering them, and returns the exit code the specification asks for
(0 after `shutdown` then `exit`, 1 otherwise).

Signals: SIGTERM and SIGINT (what an editor sends when `shutdown` takes too long, or Ctrl-C in a
terminal) end the server as `shutdown` then `exit` would: the same cleanup, no traceback, exit code 0,
because the user asked for the stop and it went as asked (a non-zero code would make an editor report a
crash). A second signal during the cleanup ends the process at once. `stop()` ends the serve loop from
the server itself, e.g. when `initialize`'s processId has gone (lsp/server.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
from pygls.io_ import StdoutWriter
from pygls.protocol import LanguageServerProtocol, lsp_method

if TYPE_CHECKING:
    from cattrs import Converter
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

# Whole documents travel in didOpen/didChange; 64 MiB is far above any source file an editor sends
# and far below what would hurt the server's memory.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_MAX_HEADER_LINE = 8192
_CONTENT_LENGTH = re.compile(rb"content-length\s*:\s*(\d+)\s*$", re.IGNORECASE)
_DISCARD_CHUNK = 1 << 20


def _error(msg_id: Any, error: JsonRpcException) -> dict[str, Any]:
    # Sent as a plain dict: lsprotocol's converter would drop `"id": null`, which JSON-RPC requires.
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": error.code, "message": error.message}}


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_envelope(data: Any) -> tuple[JsonRpcException | None, Any]:
    """(error or None, the id to answer with) for one decoded JSON-RPC message."""
    if not isinstance(data, dict):
        return JsonRpcInvalidRequest(f"a message must be a JSON object, got {type(data).__name__}"), None
    msg_id = data.get("id")
    answer_id = msg_id if _valid_id(msg_id) else None
    if data.get("jsonrpc") != "2.0":
        return JsonRpcInvalidRequest('"jsonrpc" must be "2.0"'), answer_id
    if "method" in data:
        if not isinstance(data["method"], str):
            return JsonRpcInvalidRequest('"method" must be a string'), answer_id
        if "id" in data and not _valid_id(msg_id):
            return JsonRpcInvalidRequest('a request "id" must be an integer or a string'), None
        if data.get("params") is not None and not isinstance(data["params"], dict | list):
            return JsonRpcInvalidRequest('"params" must be an object or an array'), answer_id
    elif "id" not in data or not ("result" in data or "error" in data):
        return JsonRpcInvalidRequest("neither a request, a notification nor a response"), answer_id
    return None, answer_id


class GemmaProtocol(LanguageServerProtocol):
    """pygls' LSP protocol with a strict envelope check and the LSP lifecycle rules (see module doc)."""

    def __init__(self, server: LanguageServer, converter: Converter) -> None:
        super().__init__(server, converter)
        self.initialize_seen = False
        self.exit_code: int | None = None
        self.on_exit: Callable[[], None] | None = None

    def stop(self, code: int, reason: str) -> bool:
        """End serving as `exit` would, with `code`; False when not served by serve_stdio/serve_tcp."""
        if self.on_exit is None:
            return False
        log.info("stopping: %s", reason)
        if self.exit_code is None:
            self.exit_code = code
        self.on_exit()
        return True

    def send_error(self, msg_id: Any, error: JsonRpcException) -> None:
        self._send_data(_error(msg_id, error))

    def handle_payload(self, payload: bytes) -> None:
        """Handle one framed body: decode, check, dispatch; every failure is answered, none raised."""
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # bad JSON or text; nesting deeper than Python's stack
            log.warning("parse error in a message of %d bytes: %s", len(payload), exc)
            self.send_error(None, JsonRpcParseError(f"Parse error: {exc}"))
            return
        try:
            self.handle_object(data)
        except Exception:  # a bug in dispatch must not end the read loop
            log.exception("could not handle a message")
            if isinstance(data, dict) and "method" in data and _valid_id(data.get("id")):
                self.send_error(data["id"], JsonRpcInternalError("the server could not handle this message"))

    def handle_object(self, data: Any) -> None:
        error, msg_id = check_envelope(data)
        if error is not None:
            log.warning("invalid message: %s", error.message)
            self.send_error(msg_id, error)
            return
        method = data.get("method")
        is_request = method is not None and "id" in data
        if method is not None and not self._admit(method, is_request, data.get("id")):
            return
        if method is not None and "params" not in data:
            data = {**data, "params": None}  # JSON-RPC allows leaving params out; pygls' types do not
        try:
            message = super().structure_message(data)
        except JsonRpcException:
            if is_request:
                self.send_error(data["id"], JsonRpcInvalidParams(f"invalid params for {method}"))
            else:
                log.warning("dropped %s with invalid params", method or "a response")
            return
        if method == types.INITIALIZE:
            self.initialize_seen = True
        super().handle_message(message)

    def _admit(self, method: str, is_request: bool, msg_id: Any) -> bool:
        """Apply the lifecycle: False (after answering a request) when the message must not run."""
        if method == types.EXIT:
            return True
        error: JsonRpcException | None = None
        if not self.initialize_seen and method != types.INITIALIZE:
            error = JsonRpcServerNotInitialized(f"the server is not initialized: send initialize before {method}")
        elif self.initialize_seen and method == types.INITIALIZE:
            error = JsonRpcInvalidRequest("initialize was already sent")
        elif self._shutdown:
            error = JsonRpcInvalidRequest(f"the server is shutting down: {method} refused")
        if error is None:
            return True
        if is_request:
            self.send_error(msg_id, error)
        else:
            log.info("dropped notification %s: %s", method, error.message)
        return False

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """Remember the exit code the specification asks for and stop the read loop (after a
        feature's own exit handler, as pygls does); the process ends in serve_stdio's caller."""
        if self.on_exit is None:  # not served by serve_stdio/serve_tcp: pygls' exit ends the process
            yield from super().lsp_exit(*args)
            return
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.exit_code = 0 if self._shutdown else 1
        self.on_exit()

    # Open documents have one owner, the server's DocumentStore (context/documents.py), which the
    # handlers in lsp/documents.py keep up to date. pygls would also keep a copy of every document's
    # text in its workspace, split into lines by its own rule (str.splitlines, which breaks at form
    # feeds too); these three hand the notifications to our handlers without feeding that copy.
    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._to_feature(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._to_feature(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._to_feature(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _to_feature(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(method)) is not None:
            yield user_handler, (params,), None


class FdReader:
    """readline/read straight from a file descriptor with our own buffer.

    sys.stdin.buffer takes a lock while a read blocks; a daemon thread blocked there makes the
    interpreter abort at exit ("could not acquire lock ... at interpreter shutdown")."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, b""

    def _fill(self) -> bool:
        import os

        chunk = os.read(self.fd, 65536)
        self.buffer += chunk
        return bool(chunk)

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0 or (0 <= limit <= len(self.buffer)) or not self._fill():
                cut = end + 1 if end >= 0 else len(self.buffer)
                if limit >= 0:
                    cut = min(cut, limit)
                line, self.buffer = self.buffer[:cut], self.buffer[cut:]
                return line

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and self._fill():
            pass
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data


class FrameReader:
    """Reads `Content-Length` framed bodies from a byte stream; never buffers an oversized body."""

    def __init__(self, stream: BinaryIO, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.stream, self.max_bytes = stream, max_bytes

    def read(self) -> bytes | JsonRpcException | None:
        """The next body, an error to report (bad header, too large), or None at end of stream."""
        length: int | None = None
        junk = False
        while True:
            line = self.stream.readline(_MAX_HEADER_LINE)
            if not line:
                return None
            if not line.strip():
                if length is not None:
                    break
                if junk:
                    return JsonRpcParseError("Parse error: a header block without a valid Content-Length")
                continue  # a stray blank line between messages
            match = _CONTENT_LENGTH.search(line)
            if match:
                length = int(match.group(1))  # the last one wins: resynchronises after junk
            else:
                junk = junk or not line.lower().startswith(b"content-type")
        if length > self.max_bytes:
            self._discard(length)
            return JsonRpcInvalidRequest(f"message of {length} bytes exceeds the limit of {self.max_bytes}")
        return self.stream.read(length) if length else b""

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.stream.read(min(length, _DISCARD_CHUNK))
            if not chunk:
                return
            length -= len(chunk)


def serve_stdio(protocol: GemmaProtocol, stdin: BinaryIO, stdout: BinaryIO,
                cleanup: Callable[[], Awaitable[None]] | None = None) -> int:
    """Serve LSP on the given streams until `exit` or end of input; returns the process exit code."""
    return _run_loop(protocol, lambda: (stdin, stdout), cleanup)


def serve_tcp(protocol: GemmaProtocol, host: str, port: int,
              cleanup: Callable[[], Awaitable[None]] | None = None) -> int:
    """Listen on HOST:PORT and serve the first client exactly as serve_stdio serves stdio (the same
    framing, lifecycle, exit codes and stop signals; pygls' own TCP loop has none of them); returns
    the process exit code. One client, as an editor starts one server: the listener closes once it
    connects."""
    listener = socket.create_server((host, port))
    log.info("listening for one LSP client on %s:%s", host, listener.getsockname()[1])

    def connect() -> tuple[BinaryIO, BinaryIO]:
        with listener:
            connection, address = listener.accept()
        log.info("client connected from %s", address)
        return cast(BinaryIO, connection.makefile("rb", buffering=0)), connection.makefile("wb")

    try:
        return _run_loop(protocol, connect, cleanup)
    finally:
        listener.close()  # a stop before any client came


def _run_loop(protocol: GemmaProtocol, connect: Callable[[], tuple[BinaryIO, BinaryIO]],
              cleanup: Callable[[], Awaitable[None]] | None) -> int:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_serve(protocol, connect, cleanup))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        # Not shutdown_default_executor(): a model still loading in a worker thread must not keep
        # the process alive after `exit`.
        loop.close()


async def _serve(protocol: GemmaProtocol, connect: Callable[[], tuple[BinaryIO, BinaryIO]],
                 cleanup: Callable[[], Awaitable[None]] | None) -> int:
    """Run until `exit`, end of input or a stop signal. `connect` (blocking: a TCP accept) runs on the
    reader thread, so the signals are handled while the server waits for its client too."""
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    def finish() -> None:
        if not finished.done():
            finished.set_result(None)

    def deliver(item: bytes | JsonRpcException) -> None:
        if isinstance(item, JsonRpcException):
            protocol.send_error(None, item)
        else:
            protocol.handle_payload(item)

    def read_frames() -> None:
        try:
            stdin, stdout = connect()
            # Queued before any message, so every answer finds the writer set.
            loop.call_soon_threadsafe(protocol.set_writer, StdoutWriter(stdout))
            source: Any = stdin
            try:
                source = FdReader(stdin.fileno())
            except (AttributeError, OSError, ValueError):  # not backed by a descriptor (tests)
                pass
            reader = FrameReader(source)
            while (item := reader.read()) is not None:
                loop.call_soon_threadsafe(deliver, item)
        except Exception:
            log.exception("reading from the client failed")
        finally:
            try:
                loop.call_soon_threadsafe(finish)
            except RuntimeError:  # the loop is already closed: exit came first
                pass

    protocol.on_exit = finish
    # A daemon thread: a read (or accept) blocked on the client must not keep the process alive after `exit`.
    threading.Thread(target=read_frames, name="lsp-reader", daemon=True).start()
    signals = _handle_stop_signals(loop, protocol, finished)
    try:
        await finished
        return await _finish(protocol, cleanup)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
            # Until the process ends (threads get a short grace): end at once, without a traceback.
            signal.signal(number, lambda *_: os._exit(protocol.exit_code if protocol.exit_code is not None
                                                      else 1))


def _handle_stop_signals(loop: asyncio.AbstractEventLoop, protocol: GemmaProtocol,
                         finished: asyncio.Future) -> list[int]:
    """SIGTERM/SIGINT stop the server like `shutdown` + `exit`; a second one while the cleanup runs
    ends the process at once. Returns the signals handled (none off the main thread: tests)."""

    def on_signal(number: int) -> None:
        name = signal.Signals(number).name
        if finished.done():
            log.warning("%s during the cleanup: exiting now", name)
            os._exit(protocol.exit_code if protocol.exit_code is not None else 1)
        protocol._shutdown = True
        protocol.stop(0, f"{name} received")

    handled: list[int] = []
    for number in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(number, on_signal, number)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no signals
            continue
        handled.append(number)
    return handled


async def _finish(protocol: GemmaProtocol, cleanup: Callable[[], Awaitable[None]] | None) -> int:
    if protocol.exit_code is None:
        log.info("the client closed the connection without exit")
    if cleanup is not None:
        try:
            await asyncio.wait_for(cleanup(), 10)
        except Exception:
            log.warning("cleanup at exit failed", exc_info=True)
    try:
        sys.stdout.flush()
    except Exception:
        pass
    if protocol.exit_code is not None:
        return protocol.exit_code
    return 0 if protocol._shutdown else 1


def exit_process(code: int, grace_seconds: float = 2.0) -> None:
    """End the process with `code`. Threads still busy after a short grace (a model still loading,
    a stuck generate call) would keep Python from exiting, so then the exit is immediate."""
    import os
    import time

    deadline = time.monotonic() + grace_seconds
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        log.warning("exiting with work still running in threads: %s",
                    [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon])
        logging.shutdown()
        try:
            sys.stdout.flush()
        except Exception:
            pass
        os._exit(code)
    raise SystemExit(code)
