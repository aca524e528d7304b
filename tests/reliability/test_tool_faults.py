"""Tools that hang and a sandbox that cannot start, seen through an ask-to-debug session over LSP.

The real server (scripted model: it calls run_tests, then answers) with the real tool catalog and
bubblewrap. A hanging test suite is killed at `sandbox.timeoutSeconds` and the session still ends
with an answer, leaving no process behind; a sandbox that cannot start is reported, the session
still answers, and the tests are not run outside it (editor settings cannot allow that).
"""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest

from gemma_lsp.sandbox import sandbox_status
from tests.conftest import server_env
from tests.reliability.conftest import open_doc, write_script
from tests.reliability.rpc import RawServer

SCRIPT = {"debug": ["<|tool_call>call:run_tests{}<tool_call|>", "The tests did not finish; look at them.<turn|>"]}
CALC = "def add(a, b):\n    return a - b\n"


def _workspace(tmp_path: Path, test_body: str) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text(CALC)
    (workspace / "test_calc.py").write_text(f"import pytest\n\nfrom calc import add\n\n\ndef test_add():\n{test_body}\n")
    return workspace


def _is_server_helper(process: psutil.Process) -> bool:
    try:
        return "multiprocessing" in " ".join(process.cmdline())
    except psutil.Error:
        return False  # already gone: it was a short-lived tool process


def _debug(server: RawServer, workspace: Path, timeout: float = 120) -> dict:
    uri = (workspace / "calc.py").as_uri()
    open_doc(server, uri, CALC)
    reply = server.request("workspace/executeCommand", {"command": "gemma.debug", "arguments": [{
        "uri": uri, "position": {"line": 1, "character": 4}, "question": "Why does test_add fail?"}]}, timeout)
    assert "result" in reply, reply
    return reply["result"]


@pytest.mark.skipif(not sandbox_status().available, reason="bubblewrap cannot build a sandbox here")
def test_a_hanging_test_suite_is_killed_at_the_timeout_and_leaves_nothing_running(tmp_path: Path):
    workspace = _workspace(tmp_path, "    import time\n    time.sleep(600)")
    with RawServer("--model", "tiny", "--script", str(write_script(tmp_path, SCRIPT)),
                   stderr_path=str(tmp_path / "stderr.log")) as server:
        server.initialize(root_uri=workspace.as_uri(), options={"gemma": {"sandbox": {"timeoutSeconds": 3}}})
        server.wait_status({"ready"})
        seen: set[psutil.Process] = set()
        done = threading.Event()

        def watch() -> None:
            me = psutil.Process(server.proc.pid)
            while not done.wait(0.05):
                try:
                    seen.update(me.children(recursive=True))
                except psutil.NoSuchProcess:
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        result = _debug(server, workspace)
        done.set()
        watcher.join()
        assert result["stopReason"] == "answered", result
        transcript = Path(result["transcript"]).read_text()
        assert "timed out" in transcript or "timeout" in transcript, transcript[-2000:]
        # Killed at the timeout, while the server runs on (a moment for the kill to land). The server's
        # own helpers (the workspace index worker, multiprocessing's resource tracker) live as long
        # as the server; the soak checks that exit ends them.
        tools = [p for p in seen if not _is_server_helper(p)]
        assert tools, "run_tests started no process"
        _, alive = psutil.wait_procs(tools, timeout=10)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [(p.pid, p.cmdline()) for p in alive]
        status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
        assert status["state"] == "ready"


def test_a_sandbox_that_cannot_start_is_reported_and_nothing_runs_outside_it(tmp_path: Path):
    marker = tmp_path / "ran-outside-the-sandbox"
    workspace = _workspace(tmp_path, f"    open({str(marker)!r}, 'w').write('x')\n    assert add(1, 2) == 3")
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    env = server_env(GEMMA_LSP_BWRAP=str(broken))
    with RawServer("--model", "tiny", "--script", str(write_script(tmp_path, SCRIPT)), env=env,
                   stderr_path=str(tmp_path / "stderr.log")) as server:
        # A workspace's settings asking to run unsandboxed are refused (config.py), so the tool fails.
        server.initialize(root_uri=workspace.as_uri(), options={"gemma": {"sandbox": {"allowUnsandboxed": True}}})
        server.wait_status({"ready"})
        result = _debug(server, workspace)
        assert result["stopReason"] == "answered", result
        transcript = Path(result["transcript"]).read_text()
        assert "sandbox" in transcript.lower(), transcript[-2000:]
        assert not marker.exists()
        status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
        assert status["state"] == "ready"
