"""Helpers for end-to-end tests that drive the real server over stdio with pytest-lsp."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import server_command, server_env


def client_capabilities() -> types.ClientCapabilities:
    """What a current editor announces; the bundled profiles predate inline completion."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
        window=types.WindowClientCapabilities(work_done_progress=True,
                                              show_document=types.ShowDocumentClientCapabilities(support=True)),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(dynamic_registration=False),
            inline_completion=types.InlineCompletionClientCapabilities(dynamic_registration=False),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=["quickfix", "refactor", ""])
                ),
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit", "command"]),
                data_support=True,
            ),
        ),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            configuration=True,
        ),
    )


async def initialize(client: LanguageClient, root_uri: str | None = None, **options: Any) -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(),
            root_uri=root_uri,
            initialization_options={"gemma": options} if options else None,
        )
    )


async def wait_for_status(client: LanguageClient, states: set[str], timeout: float = 120.0) -> dict:
    """Wait for a gemma/status notification whose state is one of `states`."""
    seen: list[dict] = getattr(client, "_gemma_status", [])

    async def poll() -> dict:
        while True:
            for status in seen:
                if status["state"] in states:
                    return status
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


def record_status(client: LanguageClient) -> list[dict]:
    """Start recording gemma/status notifications on `client`."""
    seen: list[dict] = []
    client._gemma_status = seen  # type: ignore[attr-defined]

    @client.feature("gemma/status")
    def on_status(params: Any) -> None:
        seen.append(params if isinstance(params, dict) else _to_dict(params))

    return seen


def _to_dict(obj: Any) -> dict:
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    return {k: getattr(obj, k) for k in dir(obj) if not k.startswith("_")}


def open_document(client: LanguageClient, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)
    ))


async def ready_in_workspace(client: LanguageClient, workspace: Path, uri: str, text: str, **options: Any) -> None:
    """Initialize with `workspace` as the root and `options` as gemma's, require the server to report
    ready (not error), then open `uri` holding `text`; gemma/status is recorded from the start."""
    record_status(client)
    await initialize(client, root_uri=workspace.as_uri(), **options)
    status = await wait_for_status(client, {"ready", "error"})
    assert status["state"] == "ready", status
    open_document(client, uri, text)


def scripted_config(script: Path, model: str = "tiny") -> ClientServerConfig:
    """The server as a subprocess on the scripted engine: `script` cans the model's text."""
    return ClientServerConfig(server_command=server_command("--model", model, "--script", str(script)),
                              server_env=server_env())


def ready_client_fixture(script: Path) -> Any:
    """A pytest-lsp fixture: the tiny-model server on `script`, initialized, its gemma/status recorded,
    handed to the test once it reports ready. Bind it to the fixture's name: `client = ready_client_fixture(S)`."""

    @pytest_lsp.fixture(config=scripted_config(script))
    async def client(lsp_client: LanguageClient):
        record_status(lsp_client)
        await initialize(lsp_client)
        await wait_for_status(lsp_client, {"ready"})
        yield
        await lsp_client.shutdown_session()

    return client
