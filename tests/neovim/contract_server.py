"""A minimal stand-in for the parts of gemma-lsp's protocol that CONTRACT.md (issue 16) adds and
the server branches have not landed yet: server-created work-done progress for codeAction/resolve
and gemma.explain, `proposal` in the gemma.debug result, and several items for an Invoked
inlineCompletion. It follows docs/protocol.md exactly where it answers and nothing more; the
plugin's tests against the real server cover everything else.

Slow requests wait until the client sends the `standin/release` notification, so a test can look
at the progress while the request is still running without timing assumptions.

Usage: python contract_server.py RECORD.json  (the initialize params are written to RECORD.json)
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

GREEDY = "return a + b"
ALTERNATIVES = [GREEDY, "return sum((a, b))", "return b + a"]
DEBUG_ANSWER = "The **bug**: `add` returns `a + c`; only `a` and `b` exist.\n\n```diff\n-    return a + c\n+    return a + b\n```"
FIX_TEXT = "    return a + b"

server = LanguageServer("gemma-lsp-contract-standin", "0")
release = asyncio.Event()
documents: dict[str, str] = {}


@server.feature(lsp.INITIALIZE)
def initialize(ls: LanguageServer, params: Any) -> None:
    window = params.capabilities.window
    with open(sys.argv[1], "w") as f:
        json.dump({"initializationOptions": params.initialization_options,
                   "workDoneProgress": bool(window and window.work_done_progress)}, f)


@server.feature(lsp.INITIALIZED)
def initialized(ls: LanguageServer, params: Any) -> None:
    ls.protocol.notify("gemma/status", {"state": "ready", "model": "tiny", "message": "tiny on cpu",
                                        "placeholder": True})


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    documents[params.text_document.uri] = params.text_document.text


@server.feature("standin/release")
def on_release(ls: LanguageServer, params: Any) -> None:
    release.set()


async def progress(ls: LanguageServer, message: str) -> str:
    """Server-created progress, as CONTRACT.md says: title "Gemma", a lower-case message."""
    token = f"gemma-{uuid.uuid4().hex[:8]}"
    await ls.work_done_progress.create_async(token)
    ls.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title="Gemma", message=message))
    return token


async def slow(ls: LanguageServer, message: str, outcome: str = "done") -> None:
    token = await progress(ls, message)
    release.clear()
    await release.wait()
    ls.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=outcome))


@server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
def inline_completion(ls: LanguageServer, params: lsp.InlineCompletionParams) -> lsp.InlineCompletionList:
    invoked = params.context.trigger_kind == lsp.InlineCompletionTriggerKind.Invoked
    texts = ALTERNATIVES if invoked else ALTERNATIVES[:1]
    return lsp.InlineCompletionList(items=[lsp.InlineCompletionItem(insert_text=t) for t in texts])


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(resolve_provider=True))
def code_action(ls: LanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    return [lsp.CodeAction(title="Fix: undefined name 'c'", kind=lsp.CodeActionKind.QuickFix,
                           data={"uri": params.text_document.uri})]


@server.feature(lsp.CODE_ACTION_RESOLVE)
async def resolve(ls: LanguageServer, action: lsp.CodeAction) -> lsp.CodeAction:
    await slow(ls, "computing the fix…")
    uri = action.data["uri"]
    line = documents[uri].splitlines()[1]
    action.edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(
        range=lsp.Range(start=lsp.Position(line=1, character=0), end=lsp.Position(line=1, character=len(line))),
        new_text=FIX_TEXT)]})
    return action


@server.command("gemma.explain")
async def explain(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    await slow(ls, "explaining…")
    return {"title": "Gemma: explanation", "markdown": "The name `c` is **not defined**."}


@server.command("gemma.status")
def status(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    return {"state": "ready", "model": "tiny", "engine": "scripted", "placeholder": True,
            "sandbox": {"available": False, "reason": "user namespaces are disabled"}}


@server.command("gemma.debug")
def debug(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    uri = next(iter(documents))
    line = documents[uri].splitlines()[1]
    edit = {"changes": {uri: [{"range": {"start": {"line": 1, "character": 0},
                                          "end": {"line": 1, "character": len(line)}},
                                "newText": FIX_TEXT}]}}
    diff = ("--- a/buggy.py\n+++ b/buggy.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + c\n"
            "+    return a + b\n")
    return {"answer": DEBUG_ANSWER, "stopReason": "answered", "edit": edit,
            "editMessage": "Proposed edit: 1 change in buggy.py.",
            "proposal": {"edit": edit, "diff": diff, "summary": "1 change in buggy.py"}}


if __name__ == "__main__":
    server.start_io()
