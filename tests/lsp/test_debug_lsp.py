"""Ask-to-debug end to end: the real server over stdio, the scripted engine, the real tool catalog and
sandbox on a real temporary workspace with a failing pytest test (fixture `client`).

The scripted model calls run_tests and read_file, then answers with a SEARCH/REPLACE fix; the session
reports each step as progress, returns a versioned edit, and applying that edit makes the tests pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
import pytest_lsp
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command, server_env
from tests.lsp.lsp_harness import apply_edit, model_calls, write_script
from tests.lsp.lsp_support import initialize, open_document, record_status, wait_for_status

HERE = Path(tempfile.mkdtemp(prefix="gemma-debug-"))
WORKSPACE = HERE / "ws"
WORKSPACE.mkdir()
CALC = "def add(a, b):\n    return a - b\n"
TEST_CALC = "import pytest\n\nfrom calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
# A second workspace whose test suite never ends, for the cancel tests.
SLOW_WORKSPACE = HERE / "slow-ws"
SLOW_WORKSPACE.mkdir()
SLOW_TEST = "gemma_test_that_never_ends"
for folder in (WORKSPACE, SLOW_WORKSPACE):
    (folder / "calc.py").write_text(CALC)
    (folder / "test_calc.py").write_text(TEST_CALC)
(SLOW_WORKSPACE / "test_slow.py").write_text(f"import time\n\n\ndef {SLOW_TEST}():\n    time.sleep(300)\n")
URI = (WORKSPACE / "calc.py").as_uri()
SLOW_URI = (SLOW_WORKSPACE / "calc.py").as_uri()

CALC_DIFF = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
RUN_TESTS = "<|tool_call>call:run_tests{}<tool_call|>"
READ_CALC = '<|tool_call>call:read_file{path:<|"|>calc.py<|"|>}<tool_call|>'
ANSWER = ("**What is wrong:** `add` in `calc.py` (line 2) subtracts, so `test_add` gets -1.\n\n"
          "**The fix:**\n\ncalc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n"
          "    return a + b\n>>>>>>> REPLACE\n```\n<turn|>")
SCRIPT = write_script(HERE, {"debug": [RUN_TESTS, "The test fails; let me read the code." + READ_CALC, ANSWER]})
(HERE / "31b").mkdir()
BIG_SCRIPT = write_script(HERE / "31b", {"debug": [RUN_TESTS, "The test fails; let me read the code." + READ_CALC,
                                                   ANSWER]})
(HERE / "thinking").mkdir()
THINKING_SCRIPT = write_script(HERE / "thinking", {"debug": [
    "<|channel>thought\nRun the tests first.<channel|>" + RUN_TESTS,  # thinks aloud, then calls
    "add(1, 2) gave -1: read calc.py.<channel|>" + READ_CALC,  # starts inside the thought the prompt opened
    "It subtracts.<channel|>" + ANSWER]})
SLOW_SCRIPT = HERE / "slow" / "script.json"
SLOW_SCRIPT.parent.mkdir()
SLOW_SCRIPT.write_text(json.dumps({"debug": [RUN_TESTS, "never reached"]}))
FAILING_TOOL_SCRIPT = HERE / "failing" / "script.json"
FAILING_TOOL_SCRIPT.parent.mkdir()
FAILING_TOOL_SCRIPT.write_text(json.dumps({"debug": [
    '<|tool_call>call:read_file{path:<|"|>../outside.txt<|"|>}<tool_call|>',
    "I could not read the file, so I cannot propose a fix."]}))

MISQUOTED_SCRIPT = HERE / "misquoted" / "script.json"
MISQUOTED_SCRIPT.parent.mkdir()
MISQUOTED_SCRIPT.write_text(json.dumps({"debug": [
    "`add` subtracts.\n\ncalc.py\n```python\n<<<<<<< SEARCH\n    return a -- b\n=======\n    return a + b\n"
    ">>>>>>> REPLACE\n```\n\nThat is all."]}))


async def start(client: LanguageClient, script: Path, workspace: Path = WORKSPACE) -> None:
    script.with_name("script.calls.jsonl").unlink(missing_ok=True)
    record_status(client)
    await initialize(client, root_uri=workspace.as_uri(), clientRendersExplanations=True)
    await wait_for_status(client, {"ready", "error"})
    open_document(client, (workspace / "calc.py").as_uri(), CALC)


def config(script: Path, model: str = "tiny") -> ClientServerConfig:
    return ClientServerConfig(server_command=server_command("--model", model, "--script", str(script)),
                              server_env=server_env())


@pytest_lsp.fixture(config=config(SCRIPT))
async def client(lsp_client: LanguageClient):
    await start(lsp_client, SCRIPT)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(BIG_SCRIPT, model="31b"))
async def big_client(lsp_client: LanguageClient):
    await start(lsp_client, BIG_SCRIPT)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(THINKING_SCRIPT, model="31b"))
async def thinking_client(lsp_client: LanguageClient):
    await start(lsp_client, THINKING_SCRIPT)
    lsp_client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"gemma": {"debug": {"thinking": True}}}))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(SLOW_SCRIPT))
async def slow_client(lsp_client: LanguageClient):
    await start(lsp_client, SLOW_SCRIPT, SLOW_WORKSPACE)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(MISQUOTED_SCRIPT))
async def misquoted_client(lsp_client: LanguageClient):
    await start(lsp_client, MISQUOTED_SCRIPT)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=config(FAILING_TOOL_SCRIPT))
async def failing_client(lsp_client: LanguageClient):
    await start(lsp_client, FAILING_TOOL_SCRIPT)
    yield
    await lsp_client.shutdown_session()


def debug_params(uri: str = URI, **extra) -> types.ExecuteCommandParams:
    args = {"uri": uri, "position": {"line": 1, "character": 4}, "question": "Why does test_add fail?",
            "testId": "test_calc.py::test_add", **extra}
    return types.ExecuteCommandParams(command="gemma.debug", arguments=[args])


def progress_messages(client: LanguageClient) -> list[list[str]]:
    return [[getattr(r, "message", None) or getattr(r, "title", "") for r in reports]
            for reports in client.progress_reports.values()]


def run_pytest(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_calc.py"],
                          cwd=folder, capture_output=True, text=True, timeout=120, env=server_env())


async def test_debug_session_finds_the_bug_with_tools_and_its_edit_fixes_the_tests(client: LanguageClient):
    await debug_session_that_fixes_the_tests(client, SCRIPT, HERE / "applied")


async def test_the_same_session_on_the_26b_31b_template_variant(big_client: LanguageClient):
    """The server stands in for `--model 31b`: every prompt goes through the 26B/31B template."""
    await debug_session_that_fixes_the_tests(big_client, BIG_SCRIPT, HERE / "applied-31b")


async def debug_session_that_fixes_the_tests(client: LanguageClient, script: Path, work: Path) -> None:
    assert (await asyncio.to_thread(run_pytest, WORKSPACE)).returncode == 1  # the bug is real
    result = await client.workspace_execute_command_async(debug_params())
    assert result["stopReason"] == "answered" and result["limit"] is None
    assert "`add` in `calc.py` (line 2) subtracts" in result["answer"]
    assert result["editMessage"] == "Proposed edit: 1 change in calc.py."
    # Progress: one report per step, the tools described as they ran.
    (steps,) = [m for m in progress_messages(client) if m and m[0] == "debugging calc.py…"]
    assert steps[1:] == ["asking the model…", "running tests…", "asking the model…", "reading calc.py",
                         "asking the model…", "done"]
    # The proposal: the edit, its unified diff and a summary; the answer shows the diff, not the markers.
    proposal = result["proposal"]
    assert proposal["edit"] == result["edit"] and proposal["summary"] == "1 change in calc.py"
    assert proposal["diff"] == CALC_DIFF
    assert "SEARCH" not in result["answer"] and "REPLACE" not in result["answer"]
    assert f"```diff\n{CALC_DIFF}```" in result["answer"]
    # The model saw the real test failure and the real file.
    calls = await asyncio.to_thread(model_calls, script)
    assert [c["purpose"] for c in calls] == ["debug"] * 3 and calls[0]["priority"] == 2
    assert "read_file" in calls[0]["tools"] and "run_tests" in calls[0]["tools"]
    # Each turn's prompt, as the checkpoint's official template renders it: the first ends with the
    # generation prompt of the variant; later ones continue the model turn after the tool results
    # (string results, each named after its call), with nothing closing it.
    big = script == BIG_SCRIPT
    assert calls[0]["prompt"].endswith("<|turn>model\n" + ("<|channel>thought\n<channel|>" if big else ""))
    second, third = calls[1]["prompt"], calls[2]["prompt"]
    assert second.startswith(calls[0]["prompt"].removesuffix("<|channel>thought\n<channel|>"))
    assert second.endswith("<tool_response|>") and "<|tool_call>call:run_tests{}<tool_call|>" in second
    assert "<|tool_response>response:run_tests{value:<|\"|>{" in second and "assert -1 == 3" in second
    assert third.startswith(second)
    assert '<|tool_call>call:read_file{path:<|"|>calc.py<|"|>}<tool_call|><|tool_response>response:read_file' in third
    assert "def add(a, b):" in third and third.endswith("<tool_response|>")
    transcript = Path(result["transcript"])
    text = await asyncio.to_thread(transcript.read_text)
    assert "assert -1 == 3" in text and "def add(a, b):" in text
    assert stat.S_IMODE(os.stat(transcript).st_mode) == 0o600 and not transcript.is_relative_to(WORKSPACE)
    # Apply the versioned edit as the editor would (to the open version 1), save it, rerun the tests.
    edit = types.WorkspaceEdit(document_changes=[
        get_converter().structure(c, types.TextDocumentEdit) for c in result["edit"]["documentChanges"]])
    fixed = apply_edit(edit, {URI: CALC}, {URI: 1})[URI]
    await asyncio.to_thread(lambda: __import__("shutil").copytree(WORKSPACE, work, dirs_exist_ok=True))
    await asyncio.to_thread((work / "calc.py").write_text, fixed)
    rerun = await asyncio.to_thread(run_pytest, work)
    assert rerun.returncode == 0, rerun.stdout
    assert await asyncio.to_thread((WORKSPACE / "calc.py").read_text) == CALC  # the server changed nothing


async def test_with_thinking_on_reasoning_is_kept_and_replies_that_start_mid_thought_are_split(
        thinking_client: LanguageClient):
    result = await thinking_client.workspace_execute_command_async(debug_params())
    assert result["stopReason"] == "answered" and result["editMessage"] == "Proposed edit: 1 change in calc.py."
    assert result["answer"].startswith("**What is wrong:**") and "<channel|>" not in result["answer"]
    calls = await asyncio.to_thread(model_calls, THINKING_SCRIPT)
    assert [c["thinking"] for c in calls] == [True] * 3
    first, second, third = (c["prompt"] for c in calls)
    assert first.startswith("<bos><|turn>system\n<|think|>\n") and first.endswith("<|turn>model\n")
    # after results the prompt opens the thought; the reasoning of this tool loop is put back
    assert second.endswith("<tool_response|><|channel>thought\n")
    assert "<|turn>model\n<|channel>thought\nRun the tests first.\n<channel|><|tool_call>call:run_tests{}" in second
    assert third.endswith("<tool_response|><|channel>thought\n")
    assert "<|channel>thought\nadd(1, 2) gave -1: read calc.py.\n<channel|><|tool_call>call:read_file{" in third
    transcript = await asyncio.to_thread(Path(result["transcript"]).read_text)
    assert "Thought: add(1, 2) gave -1: read calc.py." in transcript


async def test_tool_call_limit_ends_with_the_best_answer_and_says_so(client: LanguageClient):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"gemma": {"debug": {"maxToolCalls": 1}}}))
    result = await client.workspace_execute_command_async(debug_params())
    assert result["stopReason"] == "max_tool_calls" and result["limit"] == "tool calls"
    assert result["answer"].startswith("_The session reached its limit on tool calls (1)")
    assert "The test fails; let me read the code." in result["answer"]  # the last turn, calls ignored


async def test_cancel_from_progress_stops_the_session_and_the_running_tool(slow_client: LanguageClient):
    task = asyncio.create_task(slow_client.workspace_execute_command_async(debug_params(SLOW_URI)))
    token = await wait_for_report(slow_client, "running tests…")
    await wait_for_process(SLOW_WORKSPACE, present=True)
    slow_client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(task, 60)
    assert result["stopReason"] == "cancelled" and result["edit"] is None
    assert result["answer"].startswith("_The session was cancelled._")
    await wait_for_process(SLOW_WORKSPACE, present=False)
    assert [c["purpose"] for c in await asyncio.to_thread(model_calls, SLOW_SCRIPT)] == ["debug"]


async def test_cancel_request_stops_it_too(slow_client: LanguageClient):
    future = asyncio.ensure_future(slow_client.protocol.send_request_async(
        types.WORKSPACE_EXECUTE_COMMAND, debug_params(SLOW_URI), msg_id="debug-1"))
    await wait_for_report(slow_client, "running tests…")
    await wait_for_process(SLOW_WORKSPACE, present=True)
    slow_client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="debug-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(future, 60)
    await wait_for_process(SLOW_WORKSPACE, present=False)


async def test_a_failing_tool_goes_back_to_the_model_and_nothing_changes(failing_client: LanguageClient):
    result = await failing_client.workspace_execute_command_async(debug_params())
    assert result["stopReason"] == "answered" and result["edit"] is None and result["proposal"] is None
    assert result["editMessage"] == "The answer proposes no edit."
    text = await asyncio.to_thread(Path(result["transcript"]).read_text)
    assert "## Tool result: read_file" in text and "outside" in text and '"error"' in text


async def test_a_change_that_cannot_be_placed_is_shown_with_a_note_not_markers(misquoted_client: LanguageClient):
    result = await misquoted_client.workspace_execute_command_async(debug_params())
    assert result["edit"] is None and result["proposal"] is None
    assert result["answer"].startswith("`add` subtracts.\n\n_This change to calc.py could not be applied: change 1 "
                                       "does not match the current text of calc.py")
    assert "```diff\n-    return a -- b\n+    return a + b\n```\n\nThat is all." in result["answer"]
    assert "SEARCH" not in result["answer"] and "<<<<<<<" not in result["answer"]


BAD_ARGUMENTS = [
    ([{"uri": URI}], "give a 'range' or a 'position'"),
    ([{"uri": URI, "position": {"line": 0, "character": 0}, "testid": "x"}], "unknown argument testid"),
    ([{"uri": URI, "position": {"line": 0, "character": 0}, "question": 3}], "'question' must be a string"),
]


async def test_bad_arguments_and_a_closed_document(client: LanguageClient):
    for arguments, message in BAD_ARGUMENTS:
        with pytest.raises(JsonRpcException, match=message):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="gemma.debug", arguments=arguments))
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=URI)))
    with pytest.raises(JsonRpcException, match="is not open in the editor"):
        await client.workspace_execute_command_async(debug_params())
    assert await asyncio.to_thread(model_calls, SCRIPT) == []


async def wait_for_report(client: LanguageClient, message: str, timeout: float = 60) -> str:
    async def poll() -> str:
        while True:
            for token, reports in client.progress_reports.items():
                if any(getattr(r, "message", None) == message for r in reports):
                    return str(token)
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def wait_for_process(folder: Path, present: bool, timeout: float = 60) -> None:
    """Wait until a process runs in `folder` (the sandbox that runs its tests, or pytest inside it),
    or until none does any more."""
    def found() -> bool:
        for proc in psutil.process_iter(["cmdline", "cwd"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
                cwd = proc.info["cwd"] or ""
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if str(folder) in cmdline or ("pytest" in cmdline and cwd == str(folder)):
                return True
        return False

    for _ in range(int(timeout * 10)):
        if await asyncio.to_thread(found) == present:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"a process in {folder} is {'still missing' if present else 'still running'}")
