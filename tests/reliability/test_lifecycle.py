"""The LSP lifecycle over raw stdio, one fresh server per test (scripted engine).

Before `initialize`: requests get -32002, notifications are dropped, `exit` ends with 1.
After `shutdown`: requests get -32600, notifications are dropped, `exit` ends with 0.
`exit` without `shutdown` ends with 1; so does the client closing stdin. Nothing is left running.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from tests.reliability.conftest import COMPLETION, DOC_URI, completion_params, open_doc, write_script
from tests.reliability.rpc import RawServer

NOT_INITIALIZED, INVALID_REQUEST = -32002, -32600


@pytest.fixture
def start(tmp_path: Path):
    servers: list[RawServer] = []
    script = write_script(tmp_path)

    def start_server() -> RawServer:
        server = RawServer("--model", "tiny", "--script", str(script), stderr_path=str(tmp_path / "stderr.log"))
        servers.append(server)
        return server

    yield start_server
    for server in servers:
        server.close()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_requests_before_initialize_are_refused_and_notifications_dropped(start):
    server = start()
    for method in ("textDocument/inlineCompletion", "workspace/executeCommand", "gemma/unknown", "shutdown"):
        reply = server.request(method, completion_params(1, 4))
        assert reply["error"]["code"] == NOT_INITIALIZED, reply
        assert "initialize" in reply["error"]["message"]
    open_doc(server)  # dropped: the document is not open after initialize
    server.initialize()
    server.wait_status({"ready"})
    reply = server.request("textDocument/inlineCompletion", completion_params(1, 4))
    assert reply["result"]["items"] == []
    open_doc(server)
    reply = server.request("textDocument/inlineCompletion", completion_params(1, 4))
    assert [i["insertText"] for i in reply["result"]["items"]] == [COMPLETION]
    assert server.request("initialize", {"capabilities": {}})["error"]["code"] == INVALID_REQUEST


def test_shutdown_then_exit_ends_with_0_and_refuses_everything_in_between(start):
    server = start()
    server.initialize()
    server.wait_status({"ready"})
    open_doc(server)
    assert server.request("shutdown") == {"jsonrpc": "2.0", "id": server.responses[-1]["id"], "result": None}
    reply = server.request("textDocument/inlineCompletion", completion_params(1, 4))
    assert reply["error"]["code"] == INVALID_REQUEST and "shutting down" in reply["error"]["message"]
    open_doc(server, version=2)  # dropped without an answer
    server.notify("exit")
    assert server.wait_exit(15) == 0


def test_exit_without_shutdown_ends_with_1(start):
    server = start()
    server.initialize()
    server.wait_status({"ready"})
    server.notify("exit")
    assert server.wait_exit(15) == 1


def test_exit_before_initialize_ends_with_1(start):
    server = start()
    server.notify("exit")
    assert server.wait_exit(15) == 1


def test_closing_stdin_ends_the_server_and_a_truncated_body_does_not_crash_it(start, tmp_path: Path):
    server = start()
    server.initialize()
    server.wait_status({"ready"})
    server.send_bytes(b"Content-Length: 500\r\n\r\n{\"jsonrpc\": \"2.0\", \"id\": 9")  # cut off mid-body
    server.close_stdin()
    assert server.wait_exit(15) == 1  # the connection was lost without shutdown
    assert "Traceback" not in (tmp_path / "stderr.log").read_text(errors="replace")


def test_exit_while_a_request_is_in_flight_leaves_no_process_behind(start, tmp_path: Path):
    script = write_script(tmp_path, {"completion": [{"text": "x" * 2000, "delay": 0.05}]})
    server = RawServer("--model", "tiny", "--script", str(script), stderr_path=str(tmp_path / "inflight.log"))
    try:
        server.initialize()
        server.wait_status({"ready"})
        open_doc(server)
        server.send({"jsonrpc": "2.0", "id": 77, "method": "textDocument/inlineCompletion",
                     "params": completion_params(1, 4, DOC_URI)})
        children = _children(server.proc.pid)
        reply = server.request("shutdown")
        assert reply["result"] is None
        server.notify("exit")
        assert server.wait_exit(15) == 0
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        server.close()


def test_exit_while_the_model_loads_and_the_index_starts_leaves_no_process_behind(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for i in range(30):
        (workspace / f"mod{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    server = RawServer("--model", "tiny", stderr_path=str(tmp_path / "stderr.log"))
    try:
        server.initialize(root_uri=workspace.as_uri())
        seen: set[psutil.Process] = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:  # the index worker is being spawned
            seen.update(_children(server.proc.pid))
            time.sleep(0.05)
        assert seen, "the workspace index started no worker process"
        server.notify("exit")
        assert server.wait_exit(30) == 1
        _, alive = psutil.wait_procs(list(seen), timeout=5)
        assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []
    finally:
        server.close()


def test_over_tcp_shutdown_then_exit_ends_the_process(tmp_path: Path):
    import json
    import socket
    import subprocess

    from tests.conftest import server_command, server_env

    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    proc = subprocess.Popen(server_command("--model", "tiny", "--script", str(write_script(tmp_path)),
                                           "--tcp", f"127.0.0.1:{port}"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_env())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not listen"
                time.sleep(0.2)
        with conn:
            for n, method in enumerate(("initialize", "shutdown")):
                params = {"processId": None, "rootUri": None, "capabilities": {}} if n == 0 else None
                body = json.dumps({"jsonrpc": "2.0", "id": n + 1, "method": method, "params": params}).encode()
                conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                data = b""
                while f'"id": {n + 1}'.encode() not in data:
                    chunk = conn.recv(65536)
                    assert chunk, "connection closed"
                    data += chunk
            body = json.dumps({"jsonrpc": "2.0", "method": "exit"}).encode()
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            assert proc.wait(20) == 0  # as over stdio: shutdown then exit
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
            raise AssertionError("the server kept running after exit over TCP")
