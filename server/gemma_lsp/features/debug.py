"""Ask to debug: a tool session with the model (agent.loop) whose answer may propose a fix.

`debug()` takes what the session is about as a `DebugRequest` and the workspace's tools as a
`Toolbox`, and returns a `DebugOutcome`: the markdown answer, a versioned edit (or why there is none),
how the session ended and the path of its transcript (features/transcripts.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gemma_lsp.agent import prompts
from gemma_lsp.agent.edits import (
    FixRefused,
    Snapshot,
    SnapshotSource,
    WorkspaceEdit,
    describe_edit,
    search_replace_fix,
)
from gemma_lsp.agent.loop import (
    ANSWERED,
    CANCELLED,
    ERROR,
    Executor,
    Limits,
    LoopResult,
    Step,
    ToolLoop,
)
from gemma_lsp.config import Settings
from gemma_lsp.engine.base import CancelToken, Engine, Priority, ToolSpec
from gemma_lsp.features.transcripts import save_transcript
from gemma_lsp.gemma4.codec import ToolCall

log = logging.getLogger(__name__)


class ToolsUnavailable(Exception):
    """The workspace's tools cannot be loaded; the message says why, for the user."""


@dataclass
class Toolbox:
    """The tools a session may call: who runs them, their declarations, their progress text."""

    executor: Executor
    specs: list[ToolSpec]
    describe: Callable[[ToolCall], str]


def load_toolbox(workspace: Path, settings: Settings) -> Toolbox:
    """The shipped tools and the workspace's own. Raises ToolsUnavailable when the catalog is broken."""
    # Imported on the first session, not when the server starts: the toolbox brings jsonschema, which
    # would slow down every server's start for a feature most sessions never use.
    from gemma_lsp.toolbox import ToolCatalog, ToolExecutor, ToolSettings, describe_call

    try:
        catalog = ToolCatalog.load(workspace)
    except Exception as error:
        raise ToolsUnavailable(f"the tool catalog could not be loaded: {error}") from error
    for problem in catalog.problems:
        log.warning("workspace tool skipped: %s", problem)
    executor = ToolExecutor(catalog, workspace, ToolSettings.from_settings(settings))
    return Toolbox(executor, list(catalog.specs()), lambda call: describe_call(call, catalog))


@dataclass
class DebugRequest:
    """What the user asked about: the code in focus, its document, and the workspace around it."""

    focus: prompts.CodeFocus
    document: Snapshot  # the document in focus, pinned to the version the edit will be computed on
    workspace: Path
    snapshot_of: SnapshotSource  # the current text of any workspace file (the editor's, else the disk's)
    question: str | None = None
    test_id: str | None = None


@dataclass
class DebugOutcome:
    answer: str  # markdown for the user: the model's answer, the limit note, the edit's fate
    edit: WorkspaceEdit | None
    edit_message: str  # what the edit changes, or why there is none
    stop_reason: str  # loop.ANSWERED, MAX_TOOL_CALLS, MAX_TOKENS, MAX_SECONDS, CANCELLED, ERROR
    transcript: Path | None
    result: LoopResult = field(repr=False)


async def debug(engine: Engine, toolbox: Toolbox, settings: Settings, request: DebugRequest,
                cancel: CancelToken, *, on_step: Callable[[Step], None] | None = None,
                transcripts: Path | None = None) -> DebugOutcome:
    """Run an ask-to-debug session to its answer (or a limit) and turn its fix into a versioned edit.
    The transcript is saved in `transcripts` when given."""
    limits = Limits.from_settings(settings.debug)
    loop = ToolLoop(engine, toolbox.executor, toolbox.specs, limits, thinking=settings.debug.thinking,
                    purpose="debug", priority=Priority.BACKGROUND, on_step=on_step, describe=toolbox.describe)
    messages = prompts.debug_messages(request.focus, request.question, request.test_id)
    result = await loop.run(messages, cancel)
    edit, edit_message = None, ""
    if result.stop_reason not in (CANCELLED, ERROR) and result.answer:
        edit, edit_message = _edit_from(result.answer, request)
    answer = compose_answer(result, edit_message, settings.debug.show_thoughts, limits)
    path = None
    if transcripts is not None:
        try:
            path = save_transcript(transcripts, "debug", request.focus, result, answer)
        except OSError as error:
            log.warning("could not save the transcript: %s", error)
    return DebugOutcome(answer, edit, edit_message, result.stop_reason, path, result)


def _edit_from(answer: str, request: DebugRequest) -> tuple[WorkspaceEdit | None, str]:
    if "SEARCH" not in answer:
        return None, "The answer proposes no edit."
    try:
        edit = search_replace_fix(answer, request.workspace, request.document, request.snapshot_of)
    except FixRefused as refusal:
        return None, f"The proposed fix was not used: {refusal}"
    return edit, describe_edit(edit)


def compose_answer(result: LoopResult, edit_message: str, show_thoughts: bool, limits: Limits) -> str:
    """The markdown the user sees: notes on how the session ended, the answer, the edit's fate."""
    parts: list[str] = []
    if result.stop_reason == CANCELLED:
        parts.append("_The session was cancelled._")
    elif result.stop_reason == ERROR:
        parts.append(f"_The session failed: {result.error}_")
    elif result.limit_hit:
        value = {"tool calls": limits.max_tool_calls, "generated tokens": limits.max_tokens,
                 "time": f"{limits.max_seconds:g} s"}[result.limit_hit]
        parts.append(f"_The session reached its limit on {result.limit_hit} ({value}); "
                     "this is the best answer so far._")
    if show_thoughts and result.thoughts:
        thoughts = "\n\n".join(t.strip() for t in result.thoughts if t.strip())
        parts.append(f"<details><summary>Thoughts</summary>\n\n{thoughts}\n\n</details>")
    if result.answer:
        parts.append(result.answer.strip())
    elif result.stop_reason == ANSWERED or result.limit_hit:
        parts.append("_The model gave no answer._")
    if edit_message:
        parts.append(f"**{edit_message}**")
    return "\n\n".join(parts)
