"""Listing code actions in process: built from the request alone, never touching the engine."""

from __future__ import annotations

import time
from types import SimpleNamespace

from lsprotocol import types

from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.lsp.code_actions import list_actions


class NoEngineServer(SimpleNamespace):
    async def get_engine(self):
        raise AssertionError("listing code actions must not use the model")


def server(resolve: list[str]) -> NoEngineServer:
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            resolve_support=types.ClientCodeActionResolveOptions(properties=resolve))))
    documents = DocumentStore()
    documents.open("file:///a.py", "python", 7, "x = 1\n")
    return NoEngineServer(client_capabilities=caps, documents=documents)


def params(count: int) -> types.CodeActionParams:
    diags = [types.Diagnostic(range=types.Range(types.Position(i, 0), types.Position(i, 5)),
                              message=f"problem {i}\nsecond line") for i in range(count)]
    return types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri="file:///a.py"),
                                  range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                                  context=types.CodeActionContext(diagnostics=diags))


def test_lazy_actions_for_clients_that_resolve():
    actions = list_actions(server(["edit", "command"]), params(2))
    assert [a.title for a in actions] == ["Explain: problem 0", "Fix: problem 0", "Explain: problem 1",
                                          "Fix: problem 1"]
    assert all(a.command is None and a.edit is None and a.data["version"] == 7 for a in actions)


def test_commands_for_clients_that_do_not_resolve():
    explain, fix = list_actions(server([]), params(1))
    assert explain.command.command == "gemma.explain" and fix.command.command == "gemma.fix"
    assert fix.command.arguments[0]["version"] == 7


def test_listing_time_is_printed_for_many_diagnostics():
    many = params(200)
    s = server(["edit", "command"])
    started = time.perf_counter()
    actions = list_actions(s, many)
    elapsed = (time.perf_counter() - started) * 1000
    assert len(actions) == 400
    print(f"listing 400 code actions for 200 diagnostics: {elapsed:.2f} ms")
