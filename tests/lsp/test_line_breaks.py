"""Every feature sees an open document's lines where LSP puts them: at "\\n", "\\r\\n" and a lone "\\r",
and nowhere else (not at a form feed). The real server over stdio, on the scripted engine.

Before one store and one positions module, the document store split lines at "\\n" only and pygls'
copy (which the code actions read) at every `str.splitlines` break, so an edit on a document with a
lone "\\r" or a form feed landed in a different place in each copy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from gemma_lsp.agent.edits import Snapshot, apply_text_edits, search_replace_fix
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.lsp import targets
from tests.conftest import server_command, server_env
from tests.lsp.lsp_harness import apply_edit, code_actions, diagnostic, model_calls, write_script
from tests.lsp.lsp_support import initialize, open_document, record_status, wait_for_status

HERE = Path(tempfile.mkdtemp(prefix="gemma-line-breaks-"))
WORKSPACE = HERE / "ws"
WORKSPACE.mkdir()
SCRIPT = write_script(HERE, {"fix": ["```\none\x0ctXwo\nTHREE\n```\n"]})


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=server_command("--model", "tiny", "--script", str(SCRIPT)), server_env=server_env()))
async def client(lsp_client: LanguageClient):
    SCRIPT.with_name("script.calls.jsonl").unlink(missing_ok=True)
    record_status(lsp_client)
    await initialize(lsp_client, root_uri=WORKSPACE.as_uri())
    await wait_for_status(lsp_client, {"ready"})
    yield
    await lsp_client.shutdown_session()


def insert(client: LanguageClient, uri: str, version: int, line: int, character: int, text: str) -> None:
    at = types.Position(line=line, character=character)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)]))


async def context_at(client: LanguageClient, uri: str, line: int, character: int) -> dict[str, str]:
    report = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="gemma.context", arguments=[{"uri": uri, "position": {"line": line, "character": character}}]))
    return {part["source"]: part["text"] for part in report["parts"]}


async def test_a_lone_carriage_return_ends_a_line_for_edits_and_completion_context(client: LanguageClient):
    uri = (WORKSPACE / "mac.py").as_uri()
    open_document(client, uri, "a = 1\rb = 2\n")
    insert(client, uri, 2, 1, 0, "c = 3\r")  # at the start of line 1, "b = 2"
    # The editor's text is now "a = 1\rc = 3\rb = 2\n": line 2 is "b = 2".
    parts = await context_at(client, uri, 2, 4)
    assert parts["prefix"] == "a = 1\rc = 3\rb = "
    assert parts["suffix"].startswith("2")


async def test_a_form_feed_does_not_end_a_line_for_a_fix(client: LanguageClient):
    uri = (WORKSPACE / "notes.txt").as_uri()
    open_document(client, uri, "one\x0ctwo\nthree\n", language_id="plaintext")
    insert(client, uri, 2, 0, 5, "X")  # line 0 is "one\x0ctwo": after "one\x0ct"
    text = "one\x0ctXwo\nthree\n"  # what the editor has now
    fix = (await code_actions(client, uri, [diagnostic(1, "shout", 0, 5)]))[1]
    resolved = await client.code_action_resolve_async(fix)
    (change,) = resolved.edit.document_changes
    assert change.text_document.version == 2
    # The prompt showed the lines the editor has, and the fix rewrites only the line that differs.
    (call,) = model_calls(SCRIPT)
    assert "one\x0ctXwo" in call["prompt"] and "three" in call["prompt"]
    assert [(e.range.start.line, e.range.end.line) for e in change.edits] == [(1, 2)]
    assert apply_edit(resolved.edit, {uri: text}, {uri: 2})[uri] == "one\x0ctXwo\nTHREE\n"


def test_a_fix_to_a_file_not_open_keeps_its_line_breaks(tmp_path: Path):
    """A SEARCH/REPLACE fix may touch a file that is only on disk: its snapshot is the file's text as
    it is (a text-mode read would turn "\\r\\n" into "\\n", and the edit would mix line breaks)."""
    util = tmp_path / "util.py"
    util.write_bytes(b"def f():\r\n    return 1\r\n")
    source = targets.snapshot_source(SimpleNamespace(documents=DocumentStore("utf-16")))
    assert source(util).text == "def f():\r\n    return 1\r\n"
    default = Snapshot(uri=(tmp_path / "main.py").as_uri(), text="", version=1, path=tmp_path / "main.py",
                       encoding="utf-16")
    reply = "util.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n"
    edit = search_replace_fix(reply, tmp_path, default, source)
    (change,) = edit.document_changes
    assert apply_text_edits(util.read_bytes().decode(), change.edits, "utf-16") == "def f():\r\n    return 2\r\n"


async def test_a_change_with_an_older_version_is_still_applied(client: LanguageClient):
    """A client bug (versions only grow), but the change is what the editor did to its text: the one
    store applies it at its current version rather than drift away from the editor's text."""
    uri = (WORKSPACE / "stale.py").as_uri()
    open_document(client, uri, "x = 1\n", version=5)
    insert(client, uri, 4, 0, 5, "0")
    parts = await context_at(client, uri, 0, 6)
    assert parts["prefix"] == "x = 10"
    # A change to a document that is not open changes nothing, and the server keeps serving.
    insert(client, (WORKSPACE / "never-opened.py").as_uri(), 2, 0, 0, "y")
    assert (await context_at(client, uri, 0, 6))["prefix"] == "x = 10"
