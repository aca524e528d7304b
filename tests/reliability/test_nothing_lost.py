"""Nothing lost, nobody let in: owner-only logs and cache, secrets kept out of logs, and settings from
an editor (a workspace can set those) that cannot turn the sandbox off or swap the model for a script.

Fixture-free: each test starts the real server on raw stdio with its own cache folder. The
no-writes-to-the-workspace check runs in test_soak.py, over a whole soak.
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import server_env
from tests.reliability.conftest import COMPLETION, completion_params, open_doc, write_script
from tests.reliability.rpc import RawServer

SECRET = "sk-live-7f3a9c0d1e2b4a6f"


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)) or ".": stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_logs_and_cache_are_owner_only_under_a_permissive_umask_and_hold_no_secrets(tmp_path: Path):
    cache = tmp_path / "cache"
    (cache / "gemma-lsp").mkdir(parents=True)
    (cache / "gemma-lsp").chmod(0o755)  # left too open by something else: the server tightens it
    log_file = cache / "gemma-lsp" / "logs" / "server.log"
    env = server_env(XDG_CACHE_HOME=str(cache))
    with RawServer("--model", "tiny", "--script", str(write_script(tmp_path)), "--log-file", str(log_file),
                   env=env, umask=0, stderr_path=str(tmp_path / "stderr.log")) as server:
        server.initialize(root_uri=tmp_path.as_uri())
        server.wait_status({"ready"})
        env_uri = (tmp_path / ".env").as_uri()
        open_doc(server, env_uri, f"API_KEY={SECRET}\n\n")
        server.request("textDocument/inlineCompletion", completion_params(1, 0, env_uri))
        open_doc(server)
        reply = server.request("textDocument/inlineCompletion", completion_params(1, 4))
        assert [i["insertText"] for i in reply["result"]["items"]] == [COMPLETION]
        server.request("shutdown")
        server.notify("exit")
        assert server.wait_exit() == 0
    modes = _modes(cache / "gemma-lsp")
    assert log_file.is_file() and log_file.read_text()
    assert modes["."] == 0o700, modes
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
    assert SECRET not in log_file.read_text()
    assert SECRET not in (tmp_path / "stderr.log").read_text()


def test_editor_settings_cannot_allow_unsandboxed_runs_or_switch_to_a_script(tmp_path: Path):
    sneaky = {"gemma": {"sandbox": {"allowUnsandboxed": True}, "script": str(write_script(tmp_path))}}
    with RawServer("--model", "tiny", stderr_path=str(tmp_path / "stderr.log")) as server:
        server.initialize(options=sneaky)
        server.wait_status({"ready"}, timeout=120)
        mark = len(server.notifications)
        server.notify("workspace/didChangeConfiguration", {"settings": sneaky})
        server.notify("workspace/didChangeConfiguration", {"settings": {"gemma.sandbox.allowUnsandboxed": True}})
        server.wait_log("gemma.script: unknown setting", after=mark)
        server.wait_log("gemma.gemma.sandbox.allowUnsandboxed: unknown setting (ignored)", after=mark)
        shown = [n["params"]["message"] for n in server.notifications[mark:] if n["method"] == "window/showMessage"]
        assert "gemma-lsp settings: gemma.sandbox.allowUnsandboxed: unknown setting (ignored)" in shown, shown
        # Still the model the command line chose, not the script; and no reload was triggered.
        status = server.request("workspace/executeCommand", {"command": "gemma.status"})["result"]
        assert status["engine"] == "local" and status["model"] == "tiny", status
        assert [n for n in server.notifications[mark:]
                if n["method"] == "gemma/status" and n["params"]["state"] == "loading"] == []
        initial = [n["params"]["message"] for n in server.notifications[:mark] if n["method"] == "window/showMessage"]
        assert any("allowUnsandboxed: unknown setting" in m for m in initial), initial


def test_a_debug_session_that_reaches_for_secrets_leaves_them_out_of_transcripts_and_logs(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (workspace / ".env").write_text(f"API_KEY={SECRET}\n")
    (workspace / "deploy.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    before = {p: p.read_bytes() for p in workspace.rglob("*")}
    script = write_script(tmp_path, {"debug": [
        '<|tool_call>call:read_file{path:<|"|>.env<|"|>}<tool_call|>',
        '<|tool_call>call:search_text{pattern:<|"|>sk-live<|"|>}<tool_call|>',
        '<|tool_call>call:read_file{path:<|"|>deploy.pem<|"|>}<tool_call|>',
        "I could not read the secrets, and I should not.<turn|>"]})
    cache = tmp_path / "cache"
    log_file = cache / "gemma-lsp" / "server.log"
    env = server_env(XDG_CACHE_HOME=str(cache))
    with RawServer("--model", "tiny", "--script", str(script), "--log-file", str(log_file), "--log-level", "DEBUG",
                   env=env, umask=0o022, stderr_path=str(tmp_path / "stderr.log")) as server:
        server.initialize(root_uri=workspace.as_uri())
        server.wait_status({"ready"})
        uri = (workspace / "calc.py").as_uri()
        open_doc(server, uri, (workspace / "calc.py").read_text())
        reply = server.request("workspace/executeCommand", {"command": "gemma.debug", "arguments": [{
            "uri": uri, "position": {"line": 1, "character": 4}, "question": "What is in .env?"}]}, timeout=120)
        result = reply["result"]
        assert result["stopReason"] == "answered", result
        server.request("shutdown")
        server.notify("exit")
        assert server.wait_exit() == 0
    transcript = Path(result["transcript"])
    assert transcript.is_relative_to(cache) and stat.S_IMODE(transcript.stat().st_mode) == 0o600
    assert "read_file" in transcript.read_text()  # the refused calls are on record, their targets are not
    for path in [*cache.rglob("*"), tmp_path / "stderr.log"]:
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 or path.name == "stderr.log", path
    assert {p: p.read_bytes() for p in workspace.rglob("*")} == before
