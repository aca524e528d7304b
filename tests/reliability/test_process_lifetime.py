"""Nothing outlives the server: the real server as a subprocess, killed the ways editors and users kill it.

- SIGTERM and SIGINT end it as `shutdown` + `exit` would: exit code 0, no traceback.
- SIGTERM, SIGINT and SIGKILL, while the workspace-index worker runs or a sandboxed test run is in
  flight, leave no process of the server's tree behind (snapshotted just before the signal).
- The server exits when `initialize`'s processId process is gone, and ignores a pid it cannot see.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gemma_lsp.lsp.server import CLIENT_POLL_SECONDS
from tests.reliability.conftest import open_doc, write_script
from tests.reliability.rpc import RawServer

SLOW_TEST = "gemma_lifetime_test_that_never_ends"
RUN_TESTS = "<|tool_call>call:run_tests{}<tool_call|>"


def _workspace(tmp_path: Path, files: int = 300) -> Path:
    """A workspace big enough that the index worker is still scanning when the signal comes, with a
    test suite that never ends (for the sandboxed run)."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for i in range(files):
        body = "".join(f"def f{i}_{j}(x):\n    return x + {j}\n\n\n" for j in range(20))
        (workspace / f"mod{i}.py").write_text(body)
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (workspace / "test_slow.py").write_text(f"import time\n\nimport pytest\n\n\ndef {SLOW_TEST}():\n    time.sleep(600)\n")
    return workspace


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def _wait_for_child(server: RawServer, needle: str, timeout: float = 60, exclude: str = "\0",
                    niceness: int | None = None) -> list[psutil.Process]:
    """Wait until a process whose command line contains `needle` (and not `exclude`; with `niceness`
    when given) runs in the server's tree; return the whole tree then."""

    def matches(process: psutil.Process) -> bool:
        cmdline = _cmdline(process)
        if needle not in cmdline or exclude in cmdline:
            return False
        try:
            return niceness is None or process.nice() == niceness
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = _tree(server.proc.pid)
        if any(matches(p) for p in tree):
            return tree
        assert server.proc.poll() is None, "the server exited"
        time.sleep(0.05)
    raise AssertionError(f"no {needle!r} process in the server's tree within {timeout}s: "
                         f"{[_cmdline(p) for p in _tree(server.proc.pid)]}")


def _wait_for_index_worker(server: RawServer) -> list[psutil.Process]:
    """The index worker once it runs its own code: it lowers its priority by 10 first thing (a worker
    still unpickling its start-up data dies of EOF with the server anyway, proving nothing)."""
    return _wait_for_child(server, "multiprocessing.spawn", niceness=min(19, psutil.Process(server.proc.pid).nice() + 10))


def _survivors(tree: list[psutil.Process], timeout: float = 20) -> list[str]:
    """Command lines of the processes in `tree` still running after up to `timeout` seconds (zombies
    count as ended: only their exit status is left, for init to collect)."""
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    left = []
    for process in alive:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(_cmdline(process) or str(process.pid))
        except psutil.NoSuchProcess:
            pass
    return left


def _kill_leftovers(tree: list[psutil.Process]) -> None:
    """Whatever a failed test left running, so it fails instead of hanging (a survivor that holds the
    server's stdout keeps RawServer's reader waiting) and leaves no orphan on the machine."""
    for process in tree:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _start(tmp_path: Path, script: dict | None = None) -> RawServer:
    path = write_script(tmp_path, script or {"debug": [RUN_TESTS, "never reached"]})
    return RawServer("--model", "tiny", "--script", str(path), stderr_path=str(tmp_path / "stderr.log"))


def _index_running(tmp_path: Path) -> tuple[RawServer, list[psutil.Process]]:
    server = _start(tmp_path)
    server.initialize(root_uri=_workspace(tmp_path).as_uri())
    return server, _wait_for_index_worker(server)


def _sandboxed_run_in_flight(tmp_path: Path) -> tuple[RawServer, list[psutil.Process]]:
    server = _start(tmp_path)
    workspace = _workspace(tmp_path, files=2)
    server.initialize(root_uri=workspace.as_uri(), options={"gemma": {"clientRendersExplanations": True}})
    server.wait_status({"ready"})
    uri = (workspace / "calc.py").as_uri()
    open_doc(server, uri, (workspace / "calc.py").read_text())
    server.send({"jsonrpc": "2.0", "id": "debug-1", "method": "workspace/executeCommand", "params": {
        "command": "gemma.debug", "arguments": [{"uri": uri, "position": {"line": 1, "character": 4},
                                                  "question": "Why does it hang?"}]}})
    _wait_for_child(server, "bwrap")
    return server, _wait_for_child(server, "pytest", exclude="bwrap")  # the test run inside the sandbox


def _assert_stopped_cleanly(tmp_path: Path, signum: int, tree: list[psutil.Process]) -> None:
    """After a stop signal: nothing of the server's tree is left, and its stderr says it stopped on
    that signal, without a traceback."""
    assert _survivors(tree) == []
    stderr = (tmp_path / "stderr.log").read_text(errors="replace")
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert f"{signal.Signals(signum).name} received" in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_server_cleanly_with_0_and_the_index_worker_with_it(tmp_path: Path, signum):
    server, tree = _index_running(tmp_path)
    try:
        server.proc.send_signal(signum)
        assert server.wait_exit(30) == 0
        _assert_stopped_cleanly(tmp_path, signum, tree)
    finally:
        _kill_leftovers(tree)
        server.close()


def test_sigkill_while_the_index_worker_runs_leaves_no_process_behind(tmp_path: Path):
    server, tree = _index_running(tmp_path)
    try:
        server.proc.kill()
        assert server.wait_exit(30) == -signal.SIGKILL
        assert _survivors(tree) == []
    finally:
        _kill_leftovers(tree)
        server.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_signal_while_a_sandboxed_run_is_in_flight_leaves_no_process_behind(tmp_path: Path, signum):
    server, tree = _sandboxed_run_in_flight(tmp_path)
    try:
        assert any("bwrap" in _cmdline(p) for p in tree)
        server.proc.send_signal(signum)
        assert server.wait_exit(30) == (-signal.SIGKILL if signum == signal.SIGKILL else 0)
        assert _survivors(tree) == []
    finally:
        _kill_leftovers(tree)
        server.close()


def test_the_server_exits_when_the_client_process_is_gone(tmp_path: Path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    server = _start(tmp_path)
    tree: list[psutil.Process] = []
    try:
        server.initialize(root_uri=_workspace(tmp_path, files=5).as_uri(), process_id=parent.pid)
        server.wait_status({"ready"})
        tree = _wait_for_index_worker(server)
        assert server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]["state"] == "ready"
        parent.kill()
        parent.wait(10)
        assert server.wait_exit(60) == 1  # as `exit` without `shutdown`
        assert _survivors(tree) == []
        assert "client's process" in (tmp_path / "stderr.log").read_text(errors="replace")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        _kill_leftovers(tree + _tree(server.proc.pid))
        server.close()


def test_a_client_process_that_cannot_be_seen_is_not_watched(tmp_path: Path):
    """A pid from another PID namespace (an editor outside the server's container) must not stop a
    healthy server: it is reported once and ignored."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(30)  # a pid that existed and is gone now: nothing runs under it
    server = _start(tmp_path)
    try:
        server.initialize(process_id=finished.pid)
        server.wait_status({"ready"})
        time.sleep(CLIENT_POLL_SECONDS + 1)  # a watch, had one started, would have stopped the server
        reply = server.request("workspace/executeCommand", {"command": "gemma.status"})
        assert reply["result"]["state"] == "ready", json.dumps(reply)
        assert f"client's process {finished.pid} cannot be seen" in (tmp_path / "stderr.log").read_text()
        server.request("shutdown")
        server.notify("exit")
        assert server.wait_exit(30) == 0
    finally:
        server.close()


# The runner in a process of its own, so the test can SIGKILL it like a server: a trusted helper (as
# search_text's matcher runs) and an unsandboxed command run (--allow-unsandboxed where bubblewrap
# cannot run) whose shell started a process of its own, all waiting forever.
_OUTSIDE_RUNS = """
import asyncio, dataclasses, sys
from pathlib import Path
from gemma_lsp.sandbox import SandboxLimits, run_sandboxed, run_trusted, sandbox_status

async def main():
    status = dataclasses.replace(sandbox_status(), available=False, reason="bubblewrap missing (test)")
    limits = SandboxLimits(timeout_seconds=600, cpu_seconds=600)
    await asyncio.gather(
        run_trusted([sys.executable, "-c", "import time; time.sleep(600)  # gemma-trusted"], Path("/"),
                    limits, status=status),
        run_sandboxed(["sh", "-c", "sleep 600 & sleep 600; : gemma-unsandboxed"], Path(sys.argv[1]), limits,
                      allow_unsandboxed=True, status=status))

asyncio.run(main())
"""


def test_sigkill_leaves_no_trusted_helper_or_unsandboxed_run_behind(tmp_path: Path):
    """Outside bubblewrap nothing ties a process to the server but what the runner arms: the group guard
    both run under, which also reaches the processes the command started itself."""
    from tests.conftest import server_env

    runner = subprocess.Popen([sys.executable, "-c", _OUTSIDE_RUNS, str(tmp_path)], env=server_env(),
                              stderr=subprocess.DEVNULL)
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tree = _tree(runner.pid)
            lines = [_cmdline(p) for p in tree]
            if (any("gemma-trusted" in c and "prlimit" not in c and "group_guard" not in c for c in lines)
                    and sum(c == "sleep 600" for c in lines) == 2):
                break
            assert runner.poll() is None, "the runner exited"
            time.sleep(0.05)
        else:
            raise AssertionError(f"the runs did not start: {[_cmdline(p) for p in _tree(runner.pid)]}")
        runner.kill()
        runner.wait(30)
        assert _survivors(tree) == []
    finally:
        _kill_leftovers(tree)
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)


def _tcp_server(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    from tests.conftest import server_command, server_env

    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    script = write_script(tmp_path, {"debug": [RUN_TESTS, "never reached"]})
    stderr = open(tmp_path / "stderr.log", "wb")  # noqa: SIM115  # the server's, closed with the test's tmp_path
    proc = subprocess.Popen(server_command("--model", "tiny", "--script", str(script), "--tcp", f"127.0.0.1:{port}"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=server_env())
    stderr.close()
    return proc, port


def _tcp_request(conn: socket.socket, msg_id: int, method: str, params: dict | None) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode()
    conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while f'"id": {msg_id}'.encode() not in data:
        chunk = conn.recv(65536)
        assert chunk, "connection closed"
        data += chunk


def _index_worker_tree(pid: int, level: int) -> list[psutil.Process]:
    """The server's tree once its index worker runs its own code (see _wait_for_index_worker), else []."""
    tree = _tree(pid)
    for process in tree:
        try:
            if "multiprocessing.spawn" in _cmdline(process) and process.nice() == level:
                return tree
        except psutil.Error:
            pass
    return []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_over_tcp_a_stop_signal_ends_the_server_cleanly_with_0_and_the_index_worker_with_it(tmp_path: Path, signum):
    proc, port = _tcp_server(tmp_path)
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "the server did not listen"
                time.sleep(0.2)
        with conn:
            _tcp_request(conn, 1, "initialize", {"processId": None, "rootUri": _workspace(tmp_path).as_uri(),
                                                 "capabilities": {}})
            body = json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}}).encode()
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            level = min(19, psutil.Process(proc.pid).nice() + 10)
            while not (tree := _index_worker_tree(proc.pid, level)):
                assert time.monotonic() < deadline and proc.poll() is None, "no index worker started"
                time.sleep(0.05)
            proc.send_signal(signum)
            assert proc.wait(30) == 0
        _assert_stopped_cleanly(tmp_path, signum, tree)
    finally:
        _kill_leftovers(tree)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_over_tcp_a_stop_signal_before_any_client_connects_ends_the_server_with_0(tmp_path: Path):
    proc, port = _tcp_server(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while "listening for one LSP client" not in (tmp_path / "stderr.log").read_text(errors="replace"):
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not listen"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        stderr = (tmp_path / "stderr.log").read_text(errors="replace")
        assert "Traceback" not in stderr and "SIGTERM received" in stderr, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_while_the_server_is_still_importing_ends_it_quietly_with_0(tmp_path: Path, signum):
    """Ctrl-C right after `gemma-lsp` starts: importing the LSP stack takes a second or two, and a
    KeyboardInterrupt traceback there would read like a crash. Python's import profile on stderr
    tells when lsprotocol.types is imported: the signal comes while the rest of the server imports."""
    from tests.conftest import server_command, server_env

    log = tmp_path / "stderr.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(server_command("--model", "tiny"), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=stderr, env=server_env(PYTHONPROFILEIMPORTTIME="1"))
    try:
        deadline = time.monotonic() + 60
        while "lsprotocol.types\n" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not import lsprotocol"
            time.sleep(0.005)
        tree = _tree(proc.pid)
        proc.send_signal(signum)
        assert proc.wait(30) == 0
        assert _survivors(tree) == []
        stderr_text = log.read_text(errors="replace")
        assert "Traceback" not in stderr_text and "KeyboardInterrupt" not in stderr_text, stderr_text[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdin:
            proc.stdin.close()


def test_the_group_guard_kills_only_its_own_group_and_starts_nothing_once_its_parent_is_gone(tmp_path: Path):
    """Started in the caller's process group (the runner always starts it in a new session), the guard
    moves to a group of its own first: its SIGKILL to the group must never reach its caller. It passes
    the command's exit code through, and with a parent pid that is not its parent it starts nothing."""
    from gemma_lsp.sandbox.runner import GROUP_GUARD

    marker = tmp_path / "ran"
    guard = [sys.executable, "-I", "-S", GROUP_GUARD]
    command = ["sh", "-c", f'touch "{marker}"; kill -TERM $PPID; sleep 1; exit 7']
    # The command's SIGTERM to the guard is what the kernel sends when the server dies.
    done = subprocess.run([*guard, str(os.getpid()), "--", *command], timeout=60)
    assert done.returncode == -signal.SIGKILL and marker.exists()
    marker.unlink()
    assert subprocess.run([*guard, str(os.getpid()), "--", "sh", "-c", "exit 7"], timeout=60).returncode == 7
    assert subprocess.run([*guard, "1", "--", *command], timeout=60).returncode == 1
    assert not marker.exists()
