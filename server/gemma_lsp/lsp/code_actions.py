"""Explain and fix diagnostics as code actions, plus the `gemma.explain` and `gemma.fix` commands.

Listing (`textDocument/codeAction`) is instant: it builds `Explain: <message>` / `Fix: <message>` per
diagnostic from the request alone, with no model call. The model runs only when the user picks one:
`codeAction/resolve` turns a Fix into an `edit` pinned to the document version it was offered for, and
the `gemma.explain` command writes the explanation (see docs/protocol.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from gemma_lsp.agent.edits import FixRefused, Snapshot
from gemma_lsp.engine.base import CancelToken
from gemma_lsp.features.explain import explain
from gemma_lsp.features.fix import propose_fix
from gemma_lsp.features.transcripts import save_markdown
from gemma_lsp.lsp import proposals, targets
from gemma_lsp.lsp.delivery import deliver_markdown
from gemma_lsp.lsp.progress import progress_of
from gemma_lsp.lsp.targets import RequestError, Target, cancellable, engine_of

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

EXPLAIN = "gemma.explain"
FIX = "gemma.fix"
# Kinds: an explanation sits with the quick fixes (so `only: ["quickfix"]` menus show it), the
# selection actions with the refactorings.
EXPLAIN_KIND = "quickfix.gemma.explain"
FIX_KIND = lsp.CodeActionKind.QuickFix
SELECTION_EXPLAIN_KIND = "refactor.gemma.explain"
SELECTION_FIX_KIND = lsp.CodeActionKind.RefactorRewrite
TITLE_CHARS = 80


# ------------------------------------------------------------------------------------------ listing

def list_actions(server: GemmaServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    """The actions for a request; no model call, no document parsing (must stay well under 10 ms)."""
    started = time.perf_counter()
    uri = params.text_document.uri
    doc = server.documents.get(uri)
    version = doc.version if doc is not None else None
    lazy_edit = _client_resolves(server, "edit")
    lazy_command = _client_resolves(server, "command")
    actions: list[lsp.CodeAction] = []

    def action(title: str, kind: str, what: str, command: str, args: dict[str, Any],
               diagnostic: lsp.Diagnostic | None = None) -> lsp.CodeAction:
        # Clients that resolve get `data` only (and the edit or command on resolve); the others get
        # the command now, which does the same work through workspace/executeCommand.
        item = lsp.CodeAction(title=title, kind=kind, diagnostics=[diagnostic] if diagnostic else None,
                              data={"action": what, **args})
        lazy = lazy_edit if what == "fix" else lazy_command
        if not lazy:
            item.command = lsp.Command(title=title, command=command, arguments=[args])
        return item

    for diagnostic in params.context.diagnostics:
        args = {"uri": uri, "range": targets.to_json(diagnostic.range),
                "diagnostic": targets.to_json(diagnostic), "version": version}
        message = _short(diagnostic.message)
        actions.append(action(f"Explain: {message}", EXPLAIN_KIND, "explain", EXPLAIN, args, diagnostic))
        actions.append(action(f"Fix: {message}", FIX_KIND, "fix", FIX, args, diagnostic))
    selection = params.range
    if not params.context.diagnostics and selection.start != selection.end:
        args = {"uri": uri, "range": targets.to_json(selection), "version": version}
        actions.append(action("Explain selection", SELECTION_EXPLAIN_KIND, "explain", EXPLAIN, args))
        # Resolves to the gemma.fix command: the client asks the user what to change and adds it as
        # `instruction` before running it (see docs/protocol.md).
        actions.append(action("Fix/refactor selection…", SELECTION_FIX_KIND, "refactor", FIX, args))
    if params.context.only:
        actions = [a for a in actions if _kind_matches(_kind(a.kind), params.context.only)]
    log.debug("listed %d code actions in %.2f ms", len(actions), (time.perf_counter() - started) * 1000)
    return actions


def _short(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "problem"
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1] + "…"


def _kind(kind: Any) -> str:
    return str(getattr(kind, "value", kind) or "")


def _kind_matches(kind: str, only: Sequence[Any]) -> bool:
    """LSP kinds are hierarchical: `quickfix` asks for `quickfix` and `quickfix.anything`."""
    return any(kind == want or kind.startswith(f"{want}.") for want in map(_kind, only))


def _client_resolves(server: GemmaServer, prop: str) -> bool:
    caps = server.client_capabilities.text_document if server.client_capabilities else None
    code_action = caps.code_action if caps else None
    support = code_action.resolve_support if code_action else None
    return bool(support and prop in support.properties)


# ---------------------------------------------------------------------------------------- resolving

async def resolve(server: GemmaServer, action: lsp.CodeAction) -> lsp.CodeAction:
    """Fill in a chosen action: a Fix gets its versioned edit, an Explain its command."""
    data = action.data if isinstance(action.data, dict) else None
    if data is None or data.get("action") not in ("fix", "explain", "refactor"):
        return action  # not one of ours
    args = {k: v for k, v in data.items() if k != "action"}
    target = targets.parse_target("codeAction/resolve", (args,))
    if data["action"] in ("explain", "refactor"):
        command = EXPLAIN if data["action"] == "explain" else FIX
        action.command = lsp.Command(title=action.title, command=command, arguments=[args])
        return action
    cancel = CancelToken()
    try:
        async with progress_of(server, "computing the fix…", cancel=cancel) as progress:
            action.edit = await _fix_edit(server, target, cancel, progress.report)
    except FixRefused as refusal:
        targets.show(server, f"{refusal}. Nothing was changed.")
        raise RequestError(f"{refusal}. Nothing was changed.") from refusal
    return action


async def _fix_edit(server: GemmaServer, target: Target, cancel: CancelToken,
                    report: Callable[[str], None]) -> lsp.WorkspaceEdit:
    """The model's fix as a versioned edit. Raises FixRefused (no usable fix) or RequestError."""
    edit, _ = await _fix_and_snapshot(server, target, cancel, report)
    return edit


async def _fix_and_snapshot(server: GemmaServer, target: Target, cancel: CancelToken,
                            report: Callable[[str], None]) -> tuple[lsp.WorkspaceEdit, Snapshot]:
    """The model's fix and the document text it was computed on; `report` tells the progress."""
    doc = targets.snapshot(server, target.uri)
    targets.check_version(target, doc)
    focus = targets.focus_of(server, target, doc)
    engine = await engine_of(server)  # may wait for the model to load
    report("asking the model…")
    edit = await cancellable(lambda cancel: propose_fix(engine, focus, doc, cancel, target.instruction), cancel)
    targets.still_current(server, doc)
    return edit, doc


# ----------------------------------------------------------------------------------------- commands

async def explain_command(server: GemmaServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """`gemma.explain [{uri, range, diagnostic?, version?, question?}]` → `{title, markdown, path}`."""
    target = targets.parse_target(EXPLAIN, args, extras=("question",))
    doc = targets.snapshot(server, target.uri)
    targets.check_version(target, doc)
    focus = targets.focus_of(server, target, doc)
    cancel = CancelToken()
    async with progress_of(server, "explaining…", token=target.work_done_token, cancel=cancel) as progress:
        engine = await engine_of(server)  # may wait for the model to load
        progress.report("asking the model…")
        markdown = await cancellable(lambda cancel: explain(engine, focus, cancel, target.question), cancel)
    if target.diagnostic is not None:
        title = f"Explain: {_short(target.diagnostic.message)}"
    else:
        title = f"Explanation of {focus.path}:{focus.first_line + 1}"
    path = save_markdown(server.cache_dir / "explanations", "explain", title, markdown)
    if not server.settings.client_renders_explanations:
        await deliver_markdown(server, title, markdown, path)
    return {"title": title, "markdown": markdown, "path": str(path)}


async def fix_command(server: GemmaServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """`gemma.fix [{uri, range, diagnostic?, version?, instruction?, preview?}]` → `{applied, message}`,
    with `preview: true` → `{applied: false, message, proposal}` and nothing applied.

    The server asks the client to apply the versioned edit (workspace/applyEdit); it never writes files.
    """
    target = targets.parse_target(FIX, args, extras=("instruction", "preview"))
    cancel = CancelToken()
    async with progress_of(server, "computing the fix…", token=target.work_done_token, cancel=cancel) as progress:
        try:
            edit, doc = await _fix_and_snapshot(server, target, cancel, progress.report)
        except FixRefused as refusal:
            progress.outcome = "no usable fix"
            targets.show(server, f"{refusal}. Nothing was changed.")
            return {"applied": False, "message": f"{refusal}. Nothing was changed.",
                    **({"proposal": None} if target.preview else {})}
        if target.preview:
            proposal = proposals.proposal_of(server, edit, {doc.uri: doc})
            return {"applied": False, "message": f"Proposed: {proposal.summary}", "proposal": proposal.to_json()}
        label = f"Fix: {_short(target.diagnostic.message)}" if target.diagnostic else "Gemma fix"
        result = await server.workspace_apply_edit_async(lsp.ApplyWorkspaceEditParams(edit=edit, label=label))
        if result.applied:
            return {"applied": True, "message": f"{label}: applied"}
        progress.outcome = "not applied"
    reason = result.failure_reason or "the editor refused the edit (the document may have changed)"
    targets.show(server, f"{label}: not applied: {reason}")
    return {"applied": False, "message": f"not applied: {reason}"}


def register(server: GemmaServer) -> None:
    # Handlers close over the typed `server` (pygls passes the same object as `ls`; its type hints
    # are read at run time, where GemmaServer is only a name for the type checker).
    options = lsp.CodeActionOptions(
        code_action_kinds=[FIX_KIND, EXPLAIN_KIND, SELECTION_EXPLAIN_KIND, SELECTION_FIX_KIND],
        resolve_provider=True)

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION, options)
    def on_code_action(params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        return list_actions(server, params)

    @server.feature(lsp.CODE_ACTION_RESOLVE)
    async def on_resolve(action: lsp.CodeAction) -> lsp.CodeAction:
        return await resolve(server, action)

    @server.command(EXPLAIN)
    async def on_explain(*args: Any) -> dict[str, Any]:
        return await explain_command(server, args)

    @server.command(FIX)
    async def on_fix(*args: Any) -> dict[str, Any]:
        return await fix_command(server, args)
