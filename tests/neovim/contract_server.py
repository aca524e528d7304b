"""A minimal stand-in for gemma-lsp, for the few Neovim cases the real server cannot produce on
demand: it records the initialize params the plugin sent, reports a sandbox that is not available
(whatever the machine offers) with the tiny placeholder model, and answers an inline completion at
once with one item for the nvim-cmp and blink.cmp sources. It answers as docs/protocol.md says and
nothing more; progress, proposals, debug diffs and alternatives are tested against the real server
(tests/neovim/test_ux.py, test_commands.py, test_completion.py).

Usage: python contract_server.py RECORD.json  (the initialize params are written to RECORD.json)
"""

from __future__ import annotations

import json
import sys
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

GREEDY = "return a + b"

server = LanguageServer("gemma-lsp-contract-standin", "0")


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


@server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
def inline_completion(ls: LanguageServer, params: lsp.InlineCompletionParams) -> lsp.InlineCompletionList:
    return lsp.InlineCompletionList(items=[lsp.InlineCompletionItem(insert_text=GREEDY)])


@server.command("gemma.status")
def status(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    return {"state": "ready", "model": "tiny", "engine": "scripted", "placeholder": True,
            "sandbox": {"available": False, "reason": "user namespaces are disabled"}}


if __name__ == "__main__":
    server.start_io()
