"""A raw JSON-RPC-over-stdio client for the real server: it frames messages itself, so tests can also
send bytes no well-behaved client would (broken headers, truncated bodies, invalid JSON).

`RawServer` starts `python -m gemma_lsp ...` as a subprocess; a reader thread parses the server's
stdout into messages. `request()` sends and waits for the response with that id.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import threading
import time
from typing import Any

from tests.conftest import REPO, server_command, server_env


def frame(body: bytes) -> bytes:
    """A message as LSP frames it: Content-Length header, blank line, body."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def encode(message: dict[str, Any]) -> bytes:
    return frame(json.dumps(message).encode("utf-8"))


class RawServer:
    """The server as a subprocess on pipes. Use as a context manager; `close()` kills what is left."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, stderr_path: str | None = None,
                 module: str | None = None, umask: int | None = None) -> None:
        """Start `python -m gemma_lsp ARGS` (or `python -m MODULE ARGS`, a test wrapper from this repo),
        optionally under another umask."""
        self._stderr = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        command = server_command(*args)
        if module:
            command[2] = module
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=env or server_env(), cwd=REPO,
            preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,  # noqa: PLW1509
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # every response, in arrival order
        self._pending: dict[Any, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # ----- transport ------------------------------------------------------------------------
    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                assert length is not None, "server sent a message without Content-Length"
                body = out.read(length)
                self.messages.put(json.loads(body))
        finally:
            self.messages.put(None)

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(encode(message))

    def close_stdin(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    # ----- messages -------------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def _pump(self, timeout: float) -> bool:
        """Move one message from the reader into the response table. False at end of stream."""
        message = self.messages.get(timeout=timeout)
        if message is None:
            self.messages.put(None)  # keep the end-of-stream marker for later callers
            return False
        if "id" in message and "method" not in message:
            self._pending[message["id"]] = message
            self.responses.append(message)
        elif "id" in message:  # a request from the server (progress tokens, configuration): answer it
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        else:
            self.notifications.append(message)
        return True

    def response(self, msg_id: Any, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the response to `msg_id`. Raises TimeoutError, or EOFError if the server is gone."""
        deadline = time.monotonic() + timeout
        while msg_id not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response to {msg_id!r} within {timeout}s")
            try:
                if not self._pump(min(left, 1.0)):
                    if msg_id in self._pending:
                        break
                    raise EOFError(f"the server closed its output before answering {msg_id!r}")
            except queue.Empty:
                continue
        return self._pending.pop(msg_id)

    def exchange(self, data: bytes, timeout: float = 20.0, ids: tuple = (None,)) -> list[dict[str, Any]]:
        """Send raw bytes, then a sentinel request; return the responses with one of `ids` that came
        in between.

        The server reads messages in order and answers framing and envelope errors at once, so those
        arrive before the sentinel's response. (Answers of async handlers may come later: wait for
        those by id.)"""
        mark = len(self.responses)
        sentinel = f"sentinel-{self.next_id()}"
        self.send_bytes(data + encode({"jsonrpc": "2.0", "id": sentinel, "method": "workspace/executeCommand",
                                       "params": {"command": "gemma.status", "arguments": []}}))
        reply = self.response(sentinel, timeout)
        assert reply.get("result", {}).get("state") == "ready", reply
        between = [m for m in self.responses[mark:] if m.get("id") in ids]
        for message in between:
            self._pending.pop(message.get("id"), None)
        return between

    def drain(self, seconds: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if not self._pump(max(0.0, deadline - time.monotonic()) or 0.01):
                    return
            except queue.Empty:
                if time.monotonic() >= deadline:
                    return

    def request(self, method: str, params: Any = None, timeout: float = 30.0) -> dict[str, Any]:
        msg_id = self.next_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.response(msg_id, timeout)

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def initialize(self, root_uri: str | None = None, options: dict | None = None,
                   process_id: int | None = None) -> dict[str, Any]:
        caps = {"window": {"workDoneProgress": False},
                "textDocument": {"inlineCompletion": {"dynamicRegistration": False}}}
        reply = self.request("initialize", {"processId": process_id, "rootUri": root_uri, "capabilities": caps,
                                            "initializationOptions": options})
        self.notify("initialized", {})
        self.capabilities = reply.get("result", {}).get("capabilities", {})
        return reply

    def log_messages(self, after: int = 0) -> list[str]:
        """window/logMessage and window/showMessage texts among the notifications from index `after` on."""
        self.drain()
        return [n["params"]["message"] for n in self.notifications[after:]
                if n.get("method") in ("window/logMessage", "window/showMessage")]

    def wait_log(self, needle: str, timeout: float = 30.0, after: int = 0) -> str:
        """Wait for a log or shown message containing `needle` (from notification `after` on); return it."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            texts = self.log_messages(after)
            for text in texts[seen:]:
                if needle in text:
                    return text
            seen = len(texts)
            try:
                if not self._pump(0.2):
                    raise EOFError("the server exited")
            except queue.Empty:
                pass
        raise TimeoutError(f"no log message with {needle!r} within {timeout}s")

    def wait_status(self, states: set[str], timeout: float = 60.0, after: int = 0) -> dict[str, Any]:
        """Wait for a gemma/status in `states` among the notifications from index `after` on."""
        deadline = time.monotonic() + timeout
        while True:
            for n in self.notifications[after:]:
                if n.get("method") == "gemma/status" and n["params"]["state"] in states:
                    return n["params"]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no gemma/status in {states} within {timeout}s")
            try:
                if not self._pump(0.2):
                    raise EOFError("the server exited")
            except queue.Empty:
                pass

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        self.close_stdin()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        if hasattr(self._stderr, "close"):
            self._stderr.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
