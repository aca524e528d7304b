"""A remote engine that drops, stalls or disappears, seen from the editor (fixture: `remote`).

The real server runs with `--engine remote` against tests/engine/remote_support/fake_openai_server.py
(a scripted OpenAI-compatible server on loopback). Each fault fails only the completion it hit, with
a log line that says what happened; the next completion is served.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_remote import Fake, start_fake, stop
from tests.reliability.conftest import completion_params, open_doc
from tests.reliability.rpc import RawServer

REPLY = {"content": ["return a", " + b", "\n```"]}


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[RawServer, Fake]]:
    fake = start_fake("--models", "gemma-4-31b-it")
    server = RawServer("--engine", "remote", "--remote-url", fake.url, stderr_path=str(tmp_path / "stderr.log"))
    try:
        server.initialize(options={"gemma": {"remote": {"timeoutSeconds": 2}, "maxNewTokens": 16}})
        server.wait_status({"ready"})
        open_doc(server)
        yield server, fake
    finally:
        server.close()
        stop(fake.process)


def _complete(server: RawServer) -> list[str]:
    reply = server.request("textDocument/inlineCompletion", completion_params(1, 4), timeout=60)
    return [item["insertText"] for item in reply["result"]["items"]]


def _failures(server: RawServer) -> list[str]:
    return [t for t in server.log_messages() if "completion failed" in t]


@pytest.mark.parametrize("fault", [{"drop_after": 2}, {"stall_after": 2}, {"status": 500, "error": "boom"}])
def test_a_drop_stall_or_error_fails_one_completion_and_the_next_is_served(remote, fault):
    server, fake = remote
    fake.script({**REPLY, **fault}, REPLY)
    assert _complete(server) == []
    server.wait_log("completion failed")
    assert _complete(server) == ["return a + b"]
    assert len(_failures(server)) == 1


def test_a_remote_server_that_is_gone_fails_completions_until_it_is_back(remote):
    server, fake = remote
    stop(fake.process)
    assert _complete(server) == []
    server.wait_log("completion failed")
    status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
    assert status["engine"] == "remote"
    assert server.request("shutdown")["result"] is None
    server.notify("exit")
    assert server.wait_exit() == 0
