"""Sessions with the model: one-shot explain and fix, and the ask-to-debug tool session.

These functions know nothing of LSP transport: they take the engine, the code in question and a cancel
token, and return markdown, a versioned WorkspaceEdit, or a `FixRefused` with a message for the user.
Transcripts of debug sessions are saved as owner-only markdown files in the user's cache folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from gemma_lsp.agent import prompts
from gemma_lsp.agent.edits import FixRefused, Snapshot, SnapshotSource, region_fix, search_replace_fix
from gemma_lsp.agent.loop import (
    ANSWERED,
    CANCELLED,
    ERROR,
    Executor,
    Limits,
    LoopResult,
    Step,
    ToolLoop,
    default_describe,
)
from gemma_lsp.config import Settings
from gemma_lsp.context.positions import split_lines
from gemma_lsp.engine.base import (
    Cancelled,
    CancelToken,
    Engine,
    GenerationRequest,
    Message,
    Priority,
    ToolSpec,
)
from gemma_lsp.gemma4.codec import ToolCall, parse_model_output

log = logging.getLogger(__name__)

EXPLAIN_TOKENS = 768
FIX_TOKENS_MAX = 2048


async def explain(engine: Engine, focus: prompts.CodeFocus, cancel: CancelToken,
                  question: str | None = None) -> str:
    """A markdown explanation of the focus. Raises engine errors (Cancelled, EngineError)."""
    request = GenerationRequest(messages=prompts.explain_messages(focus, question),
                                max_new_tokens=EXPLAIN_TOKENS, priority=Priority.FOREGROUND,
                                purpose="explain", cancel=cancel)
    completion = await engine.generate(request)
    if completion.finish_reason == "cancelled":
        raise Cancelled(cancel.reason or "cancelled")
    text = parse_model_output(completion.text).text.strip()
    if completion.finish_reason == "length":
        text += "\n\n_(The explanation was cut at its length limit.)_"
    return text or "_The model gave no explanation._"


async def propose_fix(engine: Engine, focus: prompts.CodeFocus, document: Snapshot, cancel: CancelToken,
                      instruction: str | None = None) -> lsp.WorkspaceEdit:
    """A versioned edit that fixes the focus, computed against `document` (pinned to its version).

    Raises FixRefused (with the reason for the user) when the reply holds no usable fix.
    """
    first, last = prompts.fix_region(focus)
    region = "\n".join(split_lines(focus.text)[first:last + 1])
    budget = min(FIX_TOKENS_MAX, 2 * engine.count_tokens(region) + 256)
    request = GenerationRequest(messages=prompts.fix_messages(focus, instruction), max_new_tokens=budget,
                                priority=Priority.FOREGROUND, purpose="fix", cancel=cancel)
    completion = await engine.generate(request)
    if completion.finish_reason == "cancelled":
        raise Cancelled(cancel.reason or "cancelled")
    reply = parse_model_output(completion.text).text
    return region_fix(document, first, last, reply)


@dataclass
class DebugOutcome:
    answer: str  # markdown for the user: the model's answer, the limit note, the edit's fate
    edit: lsp.WorkspaceEdit | None
    edit_message: str  # what the edit changes, or why there is none
    stop_reason: str  # loop.ANSWERED, MAX_TOOL_CALLS, MAX_TOKENS, MAX_SECONDS, CANCELLED, ERROR
    transcript: Path | None
    result: LoopResult


async def debug(engine: Engine, executor: Executor, tools: Sequence[ToolSpec], settings: Settings,
                focus: prompts.CodeFocus, document: Snapshot, workspace: Path, snapshot_of: SnapshotSource,
                cancel: CancelToken, *, question: str | None = None, test_id: str | None = None,
                on_step: Callable[[Step], None] | None = None,
                describe: Callable[[ToolCall], str] | None = None,
                transcripts: Path | None = None) -> DebugOutcome:
    """Run an ask-to-debug session to its answer (or a limit) and turn its fix into a versioned edit."""
    limits = Limits.from_settings(settings.debug)
    loop = ToolLoop(engine, executor, tools, limits, thinking=settings.debug.thinking, purpose="debug",
                    priority=Priority.BACKGROUND, on_step=on_step, describe=describe or default_describe)
    messages = prompts.debug_messages(focus, question, test_id)
    result = await loop.run(messages, cancel)
    edit, edit_message = None, ""
    if result.stop_reason not in (CANCELLED, ERROR) and result.answer:
        edit, edit_message = _edit_from(result.answer, workspace, document, snapshot_of)
    answer = compose_answer(result, edit_message, settings.debug.show_thoughts, limits)
    path = None
    if transcripts is not None:
        try:
            path = save_transcript(transcripts, "debug", focus, result, answer)
        except OSError as error:
            log.warning("could not save the transcript: %s", error)
    return DebugOutcome(answer, edit, edit_message, result.stop_reason, path, result)


def _edit_from(answer: str, workspace: Path, document: Snapshot,
               snapshot_of: SnapshotSource) -> tuple[lsp.WorkspaceEdit | None, str]:
    if "SEARCH" not in answer:
        return None, "The answer proposes no edit."
    try:
        edit = search_replace_fix(answer, workspace, document, snapshot_of)
    except FixRefused as refusal:
        return None, f"The proposed fix was not used: {refusal}"
    files = [Path(c.text_document.uri).name for c in edit.document_changes or []
             if isinstance(c, lsp.TextDocumentEdit)]
    count = sum(len(c.edits) for c in edit.document_changes or [] if isinstance(c, lsp.TextDocumentEdit))
    return edit, f"Proposed edit: {count} change{'s' if count != 1 else ''} in {', '.join(files)}."


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


# ------------------------------------------------------------------------------------- transcripts

def private_file(folder: Path, name: str, text: str) -> Path:
    """Write `text` to a new owner-only (0600) file in an owner-only folder; returns its path."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def unique_name(kind: str, suffix: str = ".md") -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}{suffix}"


def save_transcript(folder: Path, kind: str, focus: prompts.CodeFocus, result: LoopResult, answer: str) -> Path:
    """Save a readable markdown transcript (messages, tool calls and their results)."""
    head = [f"# gemma-lsp {kind} session: {focus.path}:{focus.first_line + 1}",
            f"- ended: {result.stop_reason}; tool calls: {result.tool_calls}; generated tokens: "
            f"{result.tokens}; {result.seconds:.1f} s"]
    body = [_render_message(m) for m in result.messages]
    if result.thoughts:
        body.append("## Thoughts\n\n" + "\n\n---\n\n".join(result.thoughts))
    body.append("## Answer shown to the user\n\n" + answer)
    return private_file(folder, unique_name(kind), "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n")


def _render_message(message: Message) -> str:
    role = message.get("role", "?")
    if role == "tool":
        content = message.get("content")
        shown = content if isinstance(content, str) else _json(content)
        return f"## Tool result: {message.get('name', '?')}\n\n```\n{shown}\n```"
    text = message.get("content") or ""
    out = f"## {role}\n\n{text}" if text else f"## {role}"
    if message.get("reasoning"):
        out += f"\n\nThought: {message['reasoning']}"
    for call in message.get("tool_calls") or []:
        fn = call.get("function", call)
        out += f"\n\nTool call: `{fn.get('name')}` `{_json(fn.get('arguments'), indent=None)}`"
    return out


def _json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)
