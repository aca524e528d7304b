"""Faults inside the model worker, model switches mid-request, broken model folders (tiny model).

Fixture: `faulty`, the real server started through tests/reliability/faulty_server.py, which lets a
test make the model's next forward pass raise (a CUDA out-of-memory error, MemoryError, any error)
or run slowly. Successes and failures are read from what the editor sees: the response and the
server's window/logMessage lines ("completion PATH: N chars (..." / "completion failed: ...").
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from gemma_lsp.models import tiny
from tests.reliability.conftest import completion_params, open_doc
from tests.reliability.rpc import RawServer

URI_A = "file:///tmp/gemma-lsp-reliability/a.py"
URI_B = "file:///tmp/gemma-lsp-reliability/b.py"
TEXT = "def area(w, h):\n    return \n"
OPTIONS = {"gemma": {"maxNewTokens": 12}}
SUCCESS = " chars ("  # in the server's log line for every completion the model served


class Faulty:
    def __init__(self, server: RawServer, folder: Path) -> None:
        self.server, self.folder = server, folder

    def inject(self, kind: str, value: str = "") -> None:
        (self.folder / kind).write_text(value)

    def clear(self, kind: str) -> None:
        (self.folder / kind).unlink(missing_ok=True)

    def successes(self) -> int:
        return sum(SUCCESS in t for t in self.server.log_messages())

    def failures(self) -> list[str]:
        return [t for t in self.server.log_messages() if "completion failed" in t]


@pytest.fixture
def faulty(tmp_path: Path):
    folder = tmp_path / "faults"
    folder.mkdir()
    env_server = RawServer("--model", "tiny", module="tests.reliability.faulty_server",
                           stderr_path=str(tmp_path / "stderr.log"),
                           env=_env(GEMMA_LSP_TEST_FAULT_DIR=str(folder)))
    with env_server as server:
        server.initialize(options=OPTIONS)
        server.wait_status({"ready"}, timeout=120)
        open_doc(server, URI_A, TEXT)
        open_doc(server, URI_B, TEXT)
        yield Faulty(server, folder)


def _env(**extra: str) -> dict[str, str]:
    from tests.conftest import server_env

    return server_env(**extra)


def _type(server: RawServer, uri: str) -> dict:
    """Type one more character after `return ` (so the completion cache cannot answer); the new
    cursor's completion params."""
    typed: dict[str, int] = server.__dict__.setdefault("typed", {})  # per server: its documents
    col = 11 + typed.get(uri, 0)
    typed[uri] = typed.get(uri, 0) + 1
    version = 1 + typed[uri]
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [
        {"range": {"start": {"line": 1, "character": col}, "end": {"line": 1, "character": col}}, "text": "w"}]})
    return completion_params(1, col + 1, uri)


def _complete(server: RawServer, uri: str = URI_A, timeout: float = 60.0) -> dict:
    reply = server.request("textDocument/inlineCompletion", _type(server, uri), timeout)
    assert "result" in reply, reply
    return reply["result"]


@pytest.mark.parametrize("kind, error", [("oom", "OutOfMemoryError: CUDA out of memory"),
                                         ("memory", "MemoryError"), ("error", "RuntimeError")])
def test_a_fault_in_the_worker_fails_only_that_request_and_the_next_succeeds(faulty: Faulty, kind: str, error: str):
    server = faulty.server
    _complete(server)
    server.wait_log(SUCCESS)
    before = faulty.successes()
    faulty.inject(kind)
    assert _complete(server) == {"items": []}
    assert not (faulty.folder / kind).exists()  # the fault fired inside the model
    failure = server.wait_log("completion failed")
    assert f"generation failed: {error}" in failure and "injected" in failure
    _complete(server)
    server.wait_log(SUCCESS)
    assert faulty.successes() == before + 1 and len(faulty.failures()) == 1
    status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
    assert status["state"] == "ready"


def test_a_fault_fails_the_running_request_not_the_queued_one(faulty: Faulty):
    server = faulty.server
    faulty.inject("slow", "0.3")  # every forward: A is still decoding when the fault is armed at 0.5 s
    ids = [server.next_id(), server.next_id()]
    for msg_id, uri in zip(ids, (URI_A, URI_B), strict=True):
        server.send({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion",
                     "params": _type(server, uri)})
    threading.Event().wait(0.5)  # A is decoding (slowly), B waits in the queue
    faulty.inject("oom")
    faulty.clear("slow")
    replies = [server.response(msg_id, 60) for msg_id in ids]
    assert all("result" in r for r in replies), replies
    server.wait_log(SUCCESS)
    assert len(faulty.failures()) == 1 and faulty.successes() == 1


def test_switching_the_model_while_requests_are_in_flight_answers_them_and_loads_the_new_one(
        faulty: Faulty, tmp_path: Path):
    server = faulty.server
    target_dir, drafter_dir = tiny.save(tmp_path / "saved")
    faulty.inject("slow", "0.2")
    ids = [server.next_id(), server.next_id()]
    for msg_id, uri in zip(ids, (URI_A, URI_B), strict=True):
        server.send({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion",
                     "params": _type(server, uri)})
    threading.Event().wait(0.5)
    mark = len(server.notifications)
    server.notify("workspace/didChangeConfiguration", {"settings": {"gemma": {
        "model": str(target_dir), "drafterModel": str(drafter_dir)}}})
    # Both the running and the queued request are answered, not left waiting on the old model.
    replies = [server.response(msg_id, 30) for msg_id in ids]
    assert all("result" in r for r in replies), replies
    faulty.clear("slow")
    server.wait_status({"loading"}, after=mark)
    ready = server.wait_status({"ready"}, after=mark, timeout=120)
    assert ready["model"] == str(target_dir)
    before = faulty.successes()
    _complete(server)
    server.wait_log(SUCCESS)
    assert faulty.successes() == before + 1
    status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
    assert status["model"] == str(target_dir) and status["state"] == "ready"


def _truncate_weights(target: Path, drafter: Path) -> None:
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _garbage_config(target: Path, drafter: Path) -> None:
    (target / "config.json").write_text("{ this is not json")


def _no_tokenizer(target: Path, drafter: Path) -> None:
    for path in target.glob("tokenizer*"):
        path.unlink()


def _no_drafter(target: Path, drafter: Path) -> None:
    shutil.rmtree(drafter)


@pytest.mark.parametrize("corrupt", [_truncate_weights, _garbage_config, _no_tokenizer, _no_drafter])
def test_a_corrupt_or_partial_model_folder_is_reported_and_the_server_keeps_serving(tmp_path: Path, corrupt):
    target_dir, drafter_dir = tiny.save(tmp_path / "saved")
    corrupt(target_dir, drafter_dir)
    with RawServer("--model", str(target_dir), "--drafter-model", str(drafter_dir),
                   stderr_path=str(tmp_path / "stderr.log")) as server:
        server.initialize(options=OPTIONS)
        error = server.wait_status({"error"}, timeout=120)
        assert str(target_dir) in error["message"] or "drafter" in error["message"].lower() or "not found" in error[
            "message"], error
        shown = [n["params"]["message"] for n in server.notifications if n["method"] == "window/showMessage"]
        assert any("Fix:" in text for text in shown), shown
        open_doc(server, URI_A, TEXT)
        assert _complete(server, timeout=30) == {"items": []}
        status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
        assert status["state"] == "error"
        # Pointing the settings at a working model recovers without a restart.
        mark = len(server.notifications)
        server.notify("workspace/didChangeConfiguration", {"settings": {"gemma": {"model": "tiny"}}})
        server.wait_status({"ready"}, after=mark, timeout=120)
        _complete(server)
        server.wait_log(SUCCESS)
        assert server.request("shutdown")["result"] is None
        server.notify("exit")
        assert server.wait_exit() == 0
