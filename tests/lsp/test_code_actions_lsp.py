"""Code actions end to end: the real server over stdio on the scripted engine (fixture `client`).

Listing is instant and makes no model call (checked in the scripted engine's call log); resolving a
Fix gives an edit pinned to the document version; stale versions, closed documents, bad arguments and
unusable replies each get a clear message and change nothing.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.lsp_harness import (
    CALC,
    apply_edit,
    calc_workspace,
    change,
    code_actions,
    diagnostic,
    model_calls,
    record_applied_edits,
    write_script,
)
from tests.lsp.lsp_support import initialize, open_document, record_status, scripted_config, wait_for_status

HERE, WORKSPACE, URI = calc_workspace("gemma-code-actions-")
SCRIPT = write_script(HERE, {
    "fix": ["Here is the fix:\n```python\ndef add(a, b):\n    return a + b\n\n```\n",
            "I am not sure what to change."],
    "explain": ["`add` **subtracts**: `a - b` should be `a + b`."],
})
DIAG = diagnostic(1, "AssertionError: assert add(1, 2) == 3", 4, 16)


(HERE / "31b").mkdir()
BIG_SCRIPT = write_script(HERE / "31b", json.loads(SCRIPT.read_text()))


@pytest_lsp.fixture(config=scripted_config(SCRIPT))
async def client(lsp_client: LanguageClient):
    await start(lsp_client, SCRIPT)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=scripted_config(BIG_SCRIPT, "31b"))
async def big_client(lsp_client: LanguageClient):
    """The server stands in for `--model 31b`: prompts go through the 26B/31B template variant."""
    await start(lsp_client, BIG_SCRIPT)
    yield
    await lsp_client.shutdown_session()


async def start(lsp_client: LanguageClient, script: Path) -> None:
    script.with_name("script.calls.jsonl").unlink(missing_ok=True)
    record_status(lsp_client)
    record_applied_edits(lsp_client)

    await initialize(lsp_client, root_uri=WORKSPACE.as_uri())
    await wait_for_status(lsp_client, {"ready", "error"})
    open_document(lsp_client, URI, CALC)


def read(path: Path) -> str:
    return path.read_text()


async def resolve(client: LanguageClient, action: types.CodeAction) -> types.CodeAction:
    return await client.code_action_resolve_async(action)


async def test_listing_offers_explain_and_fix_per_diagnostic_without_a_model_call(client: LanguageClient):
    other = diagnostic(4, "unused argument 'b'", 8, 9)
    actions = await code_actions(client, URI, [DIAG, other])
    assert [a.title for a in actions] == [
        "Explain: AssertionError: assert add(1, 2) == 3", "Fix: AssertionError: assert add(1, 2) == 3",
        "Explain: unused argument 'b'", "Fix: unused argument 'b'"]
    assert [a.kind for a in actions[:2]] == ["quickfix.gemma.explain", "quickfix"]
    assert all(a.edit is None for a in actions)
    assert actions[1].data["version"] == 1 and all(a.command is None for a in actions)
    explain = await resolve(client, actions[0])
    assert explain.command.command == "gemma.explain" and explain.edit is None
    only = await code_actions(client, URI, [DIAG], only=["quickfix"])
    assert len(only) == 2
    assert model_calls(SCRIPT) == []


async def test_selection_without_diagnostics_offers_explain_and_refactor(client: LanguageClient):
    selection = types.Range(types.Position(0, 0), types.Position(2, 0))
    actions = await code_actions(client, URI, [], rng=selection)
    assert [a.title for a in actions] == ["Explain selection", "Fix/refactor selection…"]
    assert actions[1].kind == "refactor.rewrite"
    assert (await resolve(client, actions[1])).command.command == "gemma.fix"
    assert model_calls(SCRIPT) == []


async def test_resolving_a_fix_gives_a_versioned_edit_that_fixes_the_code(client: LanguageClient):
    fix = (await code_actions(client, URI, [DIAG]))[1]
    resolved = await resolve(client, fix)
    (doc_change,) = resolved.edit.document_changes
    assert doc_change.text_document.version == 1
    fixed = apply_edit(resolved.edit, {URI: CALC}, {URI: 1})[URI]
    assert fixed == CALC.replace("a - b", "a + b")
    assert [c["purpose"] for c in model_calls(SCRIPT)] == ["fix"]
    assert model_calls(SCRIPT)[0]["priority"] == 1  # FOREGROUND


async def test_a_stale_version_is_refused_before_any_model_call(client: LanguageClient):
    fix = (await code_actions(client, URI, [DIAG]))[1]
    change(client, URI, 2, CALC + "\n# edited\n")
    with pytest.raises(JsonRpcException, match="changed since this action was offered"):
        await resolve(client, fix)
    assert model_calls(SCRIPT) == []


async def test_explain_command_returns_markdown_and_opens_it_for_a_generic_client(client: LanguageClient):
    explain = await resolve(client, (await code_actions(client, URI, [DIAG]))[0])
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command.command, arguments=explain.command.arguments))
    assert result["markdown"] == "`add` **subtracts**: `a - b` should be `a + b`."
    path = Path(result["path"])
    assert read(path).startswith("# Explain: AssertionError")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and not path.is_relative_to(WORKSPACE)
    assert client.shown_documents and client.shown_documents[-1].uri == path.as_uri()
    assert [c["purpose"] for c in model_calls(SCRIPT)] == ["explain"]


async def test_fix_command_asks_the_client_to_apply_the_edit(client: LanguageClient):
    args = {"uri": URI, "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 16}},
            "instruction": "make it add"}
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.fix", arguments=[args]))
    assert result["applied"] is True
    (edit,) = client.applied_edits  # type: ignore[attr-defined]
    assert apply_edit(edit, {URI: CALC}, {URI: 1})[URI] == CALC.replace("a - b", "a + b")


async def test_a_reply_without_a_usable_fix_changes_nothing(client: LanguageClient):
    fix = (await code_actions(client, URI, [DIAG]))[1]
    await resolve(client, fix)  # the first scripted reply is good; the next one is prose only
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.fix", arguments=[{k: v for k, v in fix.data.items() if k != "action"}]))
    assert result == {"applied": False, "message": "no usable fix: the model's reply has no code block. "
                                                    "Nothing was changed."}
    assert client.applied_edits == []  # type: ignore[attr-defined]
    assert any("no usable fix" in m.message for m in client.messages)


BAD_ARGUMENTS = [
    ([], "takes one argument"),
    (["file:///x.py"], "takes one argument"),
    ([{"uri": URI}], "give a 'range' or a 'position'"),
    ([{"uri": URI, "position": {"line": 0, "character": 0}, "colour": "red"}], "unknown argument colour"),
    ([{"uri": URI, "range": {"start": 3}}], "'range' is not a valid LSP Range"),
]


async def test_bad_command_arguments_get_a_clear_error(client: LanguageClient):
    for arguments, message in BAD_ARGUMENTS:  # one server for all cases: starting one takes seconds
        with pytest.raises(JsonRpcException, match=message) as error:
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="gemma.explain", arguments=arguments))
        assert error.value.code == -32602  # InvalidParams
    assert model_calls(SCRIPT) == []


async def test_a_closed_document_gets_a_clear_error(client: LanguageClient):
    fix = (await code_actions(client, URI, [DIAG]))[1]
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=URI)))
    with pytest.raises(JsonRpcException, match="is not open in the editor"):
        await resolve(client, fix)
    assert model_calls(SCRIPT) == []
    assert read(WORKSPACE / "calc.py") == CALC


async def test_actions_of_other_servers_resolve_unchanged(client: LanguageClient):
    action = types.CodeAction(title="Other", data={"from": "another server"})
    assert (await resolve(client, action)).title == "Other"


def test_no_files_written_in_the_workspace():
    assert sorted(os.listdir(WORKSPACE)) == ["calc.py"]


async def test_explain_and_fix_conversations_on_the_e2b_e4b_template(client: LanguageClient):
    await explain_then_fix(client, SCRIPT, "<|turn>model\n")


async def test_explain_and_fix_conversations_on_the_26b_31b_template(big_client: LanguageClient):
    # thinking is off: the 26B/31B generation prompt ends with an empty thought
    await explain_then_fix(big_client, BIG_SCRIPT, "<|turn>model\n<|channel>thought\n<channel|>")


async def explain_then_fix(lsp: LanguageClient, script: Path, generation: str) -> None:
    """Explain then fix, each a system + user conversation, rendered as the checkpoint's template does."""
    explain, fix = await code_actions(lsp, URI, [DIAG])
    explain = await resolve(lsp, explain)
    result = await lsp.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command.command, arguments=explain.command.arguments))
    assert result["markdown"] == "`add` **subtracts**: `a - b` should be `a + b`."
    resolved = await resolve(lsp, fix)
    assert apply_edit(resolved.edit, {URI: CALC}, {URI: 1})[URI] == CALC.replace("a - b", "a + b")
    calls = model_calls(script)
    assert [c["purpose"] for c in calls] == ["explain", "fix"]
    for call in calls:
        prompt = call["prompt"]
        assert prompt.startswith("<bos><|turn>system\nYou are a careful senior software engineer")
        assert "<turn|>\n<|turn>user\nFile `" in prompt and "AssertionError: assert add(1, 2) == 3" in prompt
        head, _, prefill = prompt.rpartition(generation)
        assert head.endswith("<turn|>\n") and "<|" not in prefill  # only the prefill follows
