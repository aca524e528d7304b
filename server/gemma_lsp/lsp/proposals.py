"""Proposals (features/proposals.py) from the WorkspaceEdits the fix and debug features compute.

A proposal's diff is computed on the very texts the edit was computed on (the snapshots), never on a
re-read that may have changed since.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from gemma_lsp.agent.edits import FixRefused, Snapshot, SnapshotSource, apply_text_edits, locate_blocks
from gemma_lsp.features import proposals
from gemma_lsp.lsp import targets

log = logging.getLogger(__name__)


def proposal_of(server: Any, edit: lsp.WorkspaceEdit, snapshots: dict[str, Snapshot]) -> proposals.Proposal:
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


def recording(source: SnapshotSource, seen: dict[str, Snapshot]) -> Callable[[Path], Snapshot]:
    """`source`, remembering each snapshot it gives (by URI) and giving the same one again."""

    def snapshot_of(path: Path) -> Snapshot:
        for snapshot in seen.values():
            if snapshot.path is not None and snapshot.path == path:
                return snapshot
        snapshot = source(path)
        seen[snapshot.uri] = snapshot
        return snapshot

    return snapshot_of


def answer_with_diffs(server: Any, answer: str, workspace: Path, default: Snapshot,
                      snapshot_of: SnapshotSource) -> str:
    """The answer with each SEARCH/REPLACE block shown as the diff of what it changes, or a note."""
    try:
        located = locate_blocks(answer, workspace, default, snapshot_of)
    except FixRefused as refusal:  # e.g. an unclosed block: nothing can be placed, leave the text
        log.info("debug answer left as written: %s", refusal)
        return answer
    views = []
    for item in located:
        block = item.block
        if item.snapshot is None or item.span is None:
            name = block.path or targets.display_path(server, default)
            views.append(proposals.BlockView(block.lines, note=f"This change to {name} could not be applied: "
                                             f"{item.problem.removeprefix('no usable fix: ')}.", intent=proposals.intent_of(block.search, block.replace)))
            continue
        start, end, new = item.span
        text = item.snapshot.text
        diff = proposals.unified_diff(targets.display_path(server, item.snapshot), text, text[:start] + new + text[end:])
        views.append(proposals.BlockView(block.lines, diff=diff, note="" if diff else "This change changes nothing."))
    return proposals.answer_with_diffs(answer, views, [item.block.path for item in located])
