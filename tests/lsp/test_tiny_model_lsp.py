"""The same code-action path on the real tiny random Gemma 4 pair (fixture `client`, `--model tiny`).

Its output is gibberish, so resolving a Fix must end in the clear "no usable fix" refusal with nothing
changed, and an explanation still comes back as markdown: the real engine, prompt and codec all ran.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command, server_env
from tests.lsp.lsp_harness import code_actions, diagnostic
from tests.lsp.lsp_support import (
    ready_in_workspace,
)

WORKSPACE = Path(tempfile.mkdtemp(prefix="gemma-tiny-features-"))
CALC = "def add(a, b):\n    return a - b\n"
(WORKSPACE / "calc.py").write_text(CALC)
URI = (WORKSPACE / "calc.py").as_uri()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=server_command("--model", "tiny"),
                                              server_env=server_env()))
async def client(lsp_client: LanguageClient):
    await ready_in_workspace(lsp_client, WORKSPACE, URI, CALC, clientRendersExplanations=True,
                             debug={"maxTokens": 96, "maxToolCalls": 2})
    yield
    await lsp_client.shutdown_session()


async def test_tiny_model_fix_refused_explain_and_debug_run(client: LanguageClient):
    diag = diagnostic(1, "assert add(1, 2) == 3", 4, 16)
    explain_action, fix_action = await code_actions(client, URI, [diag])
    with pytest.raises(JsonRpcException, match="no usable fix") as refusal:
        await client.code_action_resolve_async(fix_action)
    assert "Nothing was changed" in str(refusal.value)
    assert any("no usable fix" in m.message for m in client.messages)
    resolved = await client.code_action_resolve_async(explain_action)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=resolved.command.command, arguments=resolved.command.arguments))
    assert result["markdown"] and result["path"].endswith(".md")
    # One server for both (loading the model takes seconds): a debug session ends within its limits.
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.debug", arguments=[{"uri": URI, "position": {"line": 1, "character": 4}}]))
    assert result["stopReason"] in {"answered", "max_tokens", "max_tool_calls"}
    assert result["edit"] is None and result["editMessage"]
    assert result["transcript"].endswith(".md")
