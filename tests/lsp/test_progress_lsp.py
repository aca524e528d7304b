"""Work-done progress for slow requests, and the fix preview, end to end: the real server over stdio on
the scripted engine, whose replies stream slowly (`delay`) so the work is still running when the test
acts on its progress (fixtures `client`, a client that shows progress, and `quiet_client`, one that
does not).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.lsp_harness import (
    CALC,
    apply_edit,
    calc_workspace,
    code_actions,
    diagnostic,
    model_calls,
    record_applied_edits,
    write_script,
)
from tests.lsp.lsp_support import (
    client_capabilities,
    open_document,
    record_status,
    scripted_config,
    wait_for_status,
)

HERE, WORKSPACE, URI = calc_workspace("gemma-progress-")
FIX = "Here is the fix:\n```python\ndef add(a, b):\n    return a + b\n```\n"
# Long enough, streamed slowly enough, that a cancel always arrives while it streams.
ENDLESS = "Let me think. " * 400
SCRIPT = write_script(HERE, {
    "fix": [{"text": FIX, "delay": 0.02}, {"text": ENDLESS, "delay": 0.5}, "I am not sure what to change."],
    "explain": [{"text": "`add` **subtracts**: `a - b` should be `a + b`.", "delay": 0.02}],
})
DIAG = diagnostic(1, "AssertionError: assert add(1, 2) == 3", 4, 16)
EXPECTED_DIFF = ("--- a/calc.py\n+++ b/calc.py\n@@ -1,5 +1,5 @@\n def add(a, b):\n-    return a - b\n"
                 "+    return a + b\n \n \n def mul(a, b):\n")


@pytest_lsp.fixture(config=scripted_config(SCRIPT))
async def client(lsp_client: LanguageClient):
    await start(lsp_client, client_capabilities())
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=scripted_config(SCRIPT))
async def quiet_client(lsp_client: LanguageClient):
    capabilities = client_capabilities()
    capabilities.window = types.WindowClientCapabilities(work_done_progress=False)
    await start(lsp_client, capabilities)
    yield
    await lsp_client.shutdown_session()


async def start(lsp_client: LanguageClient, capabilities: types.ClientCapabilities) -> None:
    SCRIPT.with_name("script.calls.jsonl").unlink(missing_ok=True)
    record_status(lsp_client)
    record_applied_edits(lsp_client)

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities, root_uri=WORKSPACE.as_uri(),
        initialization_options={"gemma": {"clientRendersExplanations": True}}))
    await wait_for_status(lsp_client, {"ready", "error"})
    open_document(lsp_client, URI, CALC)


def progress_of(client: LanguageClient, message: str) -> tuple[Any, list[Any]]:
    """The token and values of the progress whose begin says `message`."""
    found = [(token, values) for token, values in client.progress_reports.items()
             if values and getattr(values[0], "message", None) == message]
    assert len(found) == 1, client.progress_reports
    return found[0]


async def wait_for_begin(client: LanguageClient, message: str, timeout: float = 60) -> Any:
    async def poll() -> Any:
        while True:
            for token, values in client.progress_reports.items():
                if values and getattr(values[0], "message", None) == message:
                    return token
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


async def fix_action(client: LanguageClient) -> types.CodeAction:
    (fix,) = [a for a in await code_actions(client, URI, [DIAG]) if a.title.startswith("Fix:")]
    return fix


async def test_resolving_a_fix_shows_progress_the_server_created(client: LanguageClient, recwarn):
    resolved = await client.code_action_resolve_async(await fix_action(client))
    assert resolved.edit is not None
    # Ended before the resolve answered (notifications arrive in order), on a token the server created
    # with window/workDoneProgress/create first (else pytest-lsp warns of an unknown token).
    _, values = progress_of(client, "computing the fix…")
    begin, report, end = values
    assert (begin.kind, begin.title, begin.cancellable) == ("begin", "Gemma", True)
    assert (report.kind, report.message) == ("report", "asking the model…")
    assert (end.kind, end.message) == ("end", "done")
    assert not [w for w in recwarn if "progress token" in str(w.message)]


async def test_cancelling_the_progress_stops_the_fix_and_says_so(client: LanguageClient):
    await client.code_action_resolve_async(await fix_action(client))  # the first (quick) reply
    task = asyncio.ensure_future(client.code_action_resolve_async(await fix_action(client)))
    token = await wait_for_begin_after(client, "computing the fix…", 1)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    with pytest.raises(JsonRpcException, match="cancelled"):
        await asyncio.wait_for(task, 60)
    assert client.progress_reports[token][-1].message == "cancelled"
    calls = await asyncio.to_thread(model_calls, SCRIPT)
    assert [c["finish_reason"] for c in calls] == ["stop", "cancelled"]


async def wait_for_begin_after(client: LanguageClient, message: str, seen: int) -> Any:
    """The token of the (seen+1)-th progress that begins with `message`."""
    async def poll() -> Any:
        while True:
            tokens = [t for t, v in client.progress_reports.items() if v and getattr(v[0], "message", None) == message]
            if len(tokens) > seen:
                return tokens[seen]
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), 60)


async def test_the_explain_command_shows_progress(client: LanguageClient):
    args = {"uri": URI, "range": get_converter().unstructure(DIAG.range), "version": 1}
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.explain", arguments=[args]))
    assert "subtracts" in result["markdown"]
    _, values = progress_of(client, "explaining…")
    assert [v.kind for v in values] == ["begin", "report", "end"]
    assert (values[0].title, values[1].message, values[2].message) == ("Gemma", "asking the model…", "done")


async def test_a_fix_without_a_usable_reply_ends_its_progress_saying_so(client: LanguageClient):
    args = {"uri": URI, "range": get_converter().unstructure(DIAG.range)}
    await client.code_action_resolve_async(await fix_action(client))  # the quick reply
    task = asyncio.ensure_future(client.code_action_resolve_async(await fix_action(client)))
    token = await wait_for_begin_after(client, "computing the fix…", 1)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    with pytest.raises(JsonRpcException):
        await task
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.fix", arguments=[args]))
    assert result["applied"] is False and result["message"].startswith("no usable fix")
    ends = [values[-1].message for values in client.progress_reports.values()
            if values and getattr(values[0], "message", None) == "computing the fix…"]
    assert ends == ["done", "cancelled", "no usable fix"]
    assert client.applied_edits == []  # type: ignore[attr-defined]


async def test_fix_preview_returns_the_proposal_and_applies_nothing(client: LanguageClient):
    args = {"uri": URI, "range": get_converter().unstructure(DIAG.range),
            "diagnostic": get_converter().unstructure(DIAG), "version": 1, "preview": True}
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.fix", arguments=[args]))
    assert result["applied"] is False
    proposal = result["proposal"]
    assert proposal["summary"] == "1 change in calc.py"
    assert proposal["diff"] == EXPECTED_DIFF
    assert client.applied_edits == []  # type: ignore[attr-defined]
    assert await asyncio.to_thread((WORKSPACE / "calc.py").read_text) == CALC
    # The proposal's edit is the one a client applies on Apply: pinned to version 1, it gives the fix.
    edit = types.WorkspaceEdit(document_changes=[
        get_converter().structure(c, types.TextDocumentEdit) for c in proposal["edit"]["documentChanges"]])
    assert apply_edit(edit, {URI: CALC}, {URI: 1})[URI] == CALC.replace("a - b", "a + b")


async def test_fix_preview_must_be_a_boolean(client: LanguageClient):
    args = {"uri": URI, "position": {"line": 1, "character": 4}, "preview": "yes"}
    with pytest.raises(JsonRpcException, match="'preview' must be true or false"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="gemma.fix", arguments=[args]))
    assert await asyncio.to_thread(model_calls, SCRIPT) == []


async def test_a_client_that_shows_no_progress_is_sent_none(quiet_client: LanguageClient):
    resolved = await quiet_client.code_action_resolve_async(await fix_action(quiet_client))
    assert resolved.edit is not None
    assert quiet_client.progress_reports == {}  # neither for loading nor for the fix
