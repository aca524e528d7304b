"""A Fix edits only the lines that change: the real server over stdio on the scripted engine (fixture
`client`), whose model block leaves out the blank line the fix region ends with (as models do).

Before, the region (the diagnostic's line plus a margin) was replaced whole, so Neovim's Fix on
`return a - b` followed by two blank lines deleted one of them (issue 13).
"""

from __future__ import annotations

import pytest_lsp
from pytest_lsp import LanguageClient

from tests.lsp.lsp_harness import (
    CALC,
    apply_edit,
    calc_workspace,
    code_actions,
    diagnostic,
    write_script,
)
from tests.lsp.lsp_support import initialize, open_document, record_status, scripted_config, wait_for_status

HERE, WORKSPACE, URI = calc_workspace("gemma-minimal-fix-")
# The block echoes the line above and stops right after the fixed line: no blank line at its end.
SCRIPT = write_script(HERE, {"fix": ["Here is the fix:\n```python\ndef add(a, b):\n    return a + b\n```\n"]})
DIAG = diagnostic(1, "AssertionError: assert add(1, 2) == 3", 4, 16)


@pytest_lsp.fixture(config=scripted_config(SCRIPT))
async def client(lsp_client: LanguageClient):
    record_status(lsp_client)
    await initialize(lsp_client, root_uri=WORKSPACE.as_uri())
    await wait_for_status(lsp_client, {"ready", "error"})
    open_document(lsp_client, URI, CALC)
    yield
    await lsp_client.shutdown_session()


async def test_a_fix_keeps_both_blank_lines_after_the_fixed_line_and_touches_only_that_line(client: LanguageClient):
    fix = (await code_actions(client, URI, [DIAG]))[1]
    resolved = await client.code_action_resolve_async(fix)
    (doc_change,) = resolved.edit.document_changes
    assert [(e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character, e.new_text)
            for e in doc_change.edits] == [(1, 0, 2, 0, "    return a + b\n")]
    fixed = apply_edit(resolved.edit, {URI: CALC}, {URI: 1})[URI]
    assert fixed == CALC.replace("a - b", "a + b")
    assert "return a + b\n\n\ndef mul" in fixed
