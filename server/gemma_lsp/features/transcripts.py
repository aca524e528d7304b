"""Files the features leave for the user: explanations and debug-session transcripts, as owner-only
markdown in the user's cache folder (they may quote the user's code)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from gemma_lsp.agent.loop import LoopResult
from gemma_lsp.agent.prompts import CodeFocus
from gemma_lsp.engine.base import Message


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


def save_markdown(folder: Path, kind: str, title: str, markdown: str) -> Path:
    """Save an answer shown to the user (an explanation, a debug answer) as `# title` + markdown."""
    return private_file(folder, unique_name(kind), f"# {title}\n\n{markdown}\n")


def save_transcript(folder: Path, kind: str, focus: CodeFocus, result: LoopResult, answer: str) -> Path:
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
