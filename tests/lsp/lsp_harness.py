"""Helpers for the code-action and debug end-to-end tests: a real server over stdio on a scripted engine."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.lsp_support import open_document

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


def calc_workspace(prefix: str) -> tuple[Path, Path, str]:
    """A fresh folder holding a workspace `ws` with a buggy calc.py (CALC): the folder, the workspace, calc.py's URI."""
    here = Path(tempfile.mkdtemp(prefix=prefix))
    workspace = here / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text(CALC)
    return here, workspace, (workspace / "calc.py").as_uri()


def record_applied_edits(client: LanguageClient) -> None:
    """Answer workspace/applyEdit as applied and keep each edit in `client.applied_edits`."""
    client.applied_edits = []  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params.edit)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)


def write_script(folder: Path, script: dict[str, Any]) -> Path:
    path = folder / "script.json"
    path.write_text(json.dumps(script))
    return path


def model_calls(script: Path) -> list[dict[str, Any]]:
    """The scripted engine's call log: one entry per model request the server made."""
    log = script.with_name(script.stem + ".calls.jsonl")
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def diagnostic(line: int, message: str, start: int = 0, end: int = 0) -> types.Diagnostic:
    return types.Diagnostic(range=types.Range(types.Position(line, start), types.Position(line, end)),
                            message=message, source="pytest", severity=types.DiagnosticSeverity.Error)


async def code_actions(client: LanguageClient, uri: str, diags: list[types.Diagnostic],
                       rng: types.Range | None = None, only: list[str] | None = None) -> list[types.CodeAction]:
    rng = rng or (diags[0].range if diags else types.Range(types.Position(0, 0), types.Position(0, 0)))
    result = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=rng,
        context=types.CodeActionContext(diagnostics=diags, only=only)))
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def gibberish_fix_explain_and_debug(client: LanguageClient, uri: str) -> dict[str, Any]:
    """On a model whose output is gibberish (the tiny pair), with calc.py's `add` subtracting at `uri`:
    resolving Fix ends in the clear "no usable fix" refusal, Explain still returns markdown saved to a
    file, and a debug session ends within its limits. Returns the debug session's result."""
    diag = diagnostic(1, "assert add(1, 2) == 3", 4, 16)
    explain_action, fix_action = await code_actions(client, uri, [diag])
    with pytest.raises(JsonRpcException, match="no usable fix") as refusal:
        await client.code_action_resolve_async(fix_action)
    assert "Nothing was changed" in str(refusal.value)
    resolved = await client.code_action_resolve_async(explain_action)
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=resolved.command.command, arguments=resolved.command.arguments))
    assert result["markdown"] and result["path"].endswith(".md")
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.debug", arguments=[{"uri": uri, "position": {"line": 1, "character": 4}}]))
    assert result["stopReason"] in {"answered", "max_tokens", "max_tool_calls"}
    return result


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def apply_edit(edit: types.WorkspaceEdit, files: dict[str, str], versions: dict[str, int | None]) -> dict[str, str]:
    """Apply a WorkspaceEdit the way an editor does: refuse it whole if a pinned version is stale."""
    from gemma_lsp.agent.edits import apply_text_edits

    out = dict(files)
    for change_ in edit.document_changes or []:
        uri = change_.text_document.uri
        pinned = change_.text_document.version
        if pinned is not None and versions.get(uri) != pinned:
            raise AssertionError(f"stale edit for {uri}: pinned {pinned}, document at {versions.get(uri)}")
        out[uri] = apply_text_edits(out[uri], change_.edits, "utf-16")  # the test client's encoding
    return out


__all__ = ["CALC", "apply_edit", "calc_workspace", "change", "code_actions", "diagnostic", "gibberish_fix_explain_and_debug", "model_calls", "open_document",
           "record_applied_edits", "write_script"]
