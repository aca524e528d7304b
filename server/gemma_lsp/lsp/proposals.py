"""Proposals (features/proposals.py) from the LSP WorkspaceEdits the fix and debug features compute.

A proposal's diff is computed on the very texts the edit was computed on (the snapshots), never on a
re-read that may have changed since.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from gemma_lsp.agent.edits import Snapshot, apply_text_edits
from gemma_lsp.features import proposals
from gemma_lsp.lsp import targets

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer


def proposal_of(server: GemmaServer, edit: lsp.WorkspaceEdit,
                snapshots: dict[str, Snapshot]) -> proposals.Proposal:
    """The proposal for `edit`, whose TextDocumentEdits were computed on `snapshots` (by URI)."""
    files = []
    for change in edit.document_changes or []:
        if not isinstance(change, lsp.TextDocumentEdit):
            continue
        snapshot = snapshots[change.text_document.uri]
        edits = [e for e in change.edits if isinstance(e, lsp.TextEdit)]  # ours are never snippets
        after = apply_text_edits(snapshot.text, edits, snapshot.encoding)
        files.append(proposals.FileChange(targets.display_path(server, snapshot), snapshot.text, after,
                                          len(change.edits)))
    return proposals.propose(targets.to_json(edit), files)
