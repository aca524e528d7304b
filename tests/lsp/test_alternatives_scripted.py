"""Several inline suggestions (issue 16 item 3) end to end with canned model text (the scripted engine).

An Invoked request gets the Automatic request's suggestion first, then the script's alternatives, after
the same stop rules and post-processing; empty ones and repeats are dropped, and the setting
`completion.alternatives` bounds the count.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.lsp_support import open_document, ready_client_fixture

SCRIPT = Path(tempfile.mkdtemp(prefix="gemma-lsp-alternatives-")) / "script.json"
URI = "file:///tmp/gemma-lsp-test/calc.py"
TEXT = "def add(a, b):\n    \n"
GREEDY = "return a + b"


def _write_script() -> Path:
    # One reply, repeated for every request. Its alternatives: a new one, the reply again, one that
    # post-processes to nothing (a special token), two more new ones.
    SCRIPT.write_text(json.dumps({"completion": [{
        "text": GREEDY + "\n```",
        "alternatives": ["return a - b\n```", GREEDY + "\n```\nmore", "<|channel>x", "return b + a\n```",
                         "return 0\n```"],
    }]}))
    return SCRIPT


client = ready_client_fixture(_write_script())


async def _complete(client: LanguageClient, uri: str, kind: types.InlineCompletionTriggerKind,
                    line: int = 1, character: int = 4) -> list[str]:
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger_kind=kind)))
    for item in result.items:
        assert item.range == types.Range(types.Position(line, character), types.Position(line, character))
    return [item.insert_text for item in result.items]


def _configure(client: LanguageClient, alternatives: int) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"gemma": {"completion": {"alternatives": alternatives}}}))


async def test_invoked_gets_the_automatic_suggestion_first_then_distinct_alternatives(client: LanguageClient):
    Invoked, Automatic = types.InlineCompletionTriggerKind.Invoked, types.InlineCompletionTriggerKind.Automatic
    open_document(client, URI, TEXT)
    assert await _complete(client, URI, Automatic) == [GREEDY]  # the script's alternatives are not asked for

    other = "file:///tmp/gemma-lsp-test/other.py"  # no cached suggestion there
    open_document(client, other, TEXT)
    assert await _complete(client, other, Invoked) == [GREEDY, "return a - b"]  # default 3: 2 offered, 1 repeat

    _configure(client, 5)  # 4 offered: a repeat and an empty one are dropped
    open_document(client, other, TEXT, version=2)
    assert await _complete(client, other, Invoked) == [GREEDY, "return a - b", "return b + a"]
    # Where the client already has the Automatic suggestion (the completion cache), it stays first.
    assert await _complete(client, URI, Invoked) == [GREEDY, "return a - b", "return b + a"]
    assert await _complete(client, URI, Automatic) == [GREEDY]

    _configure(client, 1)
    open_document(client, other, TEXT, version=3)
    assert await _complete(client, other, Invoked) == [GREEDY]


async def test_bad_alternatives_setting_is_refused_and_the_old_value_kept(client: LanguageClient):
    _configure(client, 9)
    open_document(client, URI, TEXT, version=4)
    items = await _complete(client, URI, types.InlineCompletionTriggerKind.Invoked)
    assert any("completion.alternatives" in m.message for m in client.messages), client.messages
    assert items == [GREEDY, "return a - b"]
