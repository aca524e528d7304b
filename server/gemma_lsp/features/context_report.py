"""The context report: exactly what a completion at a place would send to the model (each context part
with its source, origin and token count, the chat messages, the pre-fill and the rendered prompt) and
the completion mode. `gemma-lsp context` (cli.py) prints it for a file on disk; the editor command
`gemma.context` (lsp/context_command.py) returns it for an open document."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.index import WorkspaceIndex
from gemma_lsp.context.languages import language_for
from gemma_lsp.context.positions import Position
from gemma_lsp.context.prompt import completion_messages
from gemma_lsp.gemma4 import template

Render = Callable[[list[dict], str], str]  # (messages, prefill) -> the prompt text
CountTokens = Callable[[str], int]
TINY_TOKENIZER = "tiny fixture tokenizer (Gemma 4 chat format; counts are indicative)"


def report(builder: ContextBuilder, uri: str, position: Position, budget_tokens: int,
           render: Render | None = None, count_tokens: CountTokens | None = None) -> dict[str, Any]:
    """The report for a completion at `position` in open document `uri`."""
    ctx = builder.build(uri, position, budget_tokens)
    messages, prefill = completion_messages(ctx)
    result: dict[str, Any] = {
        "uri": uri,
        "language": ctx.language,
        "position": {"line": position.line, "character": position.character},
        "mode": ctx.mode,
        "reason": ctx.reason,
        "indent": ctx.indent,
        "budget_tokens": budget_tokens,
        "total_tokens": ctx.total_tokens,
        "parts": [{"source": p.source, "origin": p.origin, "tokens": p.tokens, "text": p.text} for p in ctx.parts],
        "messages": messages,
        "prefill": prefill,
    }
    if render is not None:
        prompt = render(messages, prefill)
        result["prompt"] = prompt
        if count_tokens is not None:
            result["prompt_tokens"] = count_tokens(prompt)
    return result


def report_for_file(path: Path, line: int, column: int, budget_tokens: int, *, workspace: Path | None = None,
                    open_files: tuple[Path, ...] = (), tokenizer: Path | None = None) -> dict[str, Any]:
    """The report for a file on disk at 1-based `line` and `column` (characters), as if it and
    `open_files` were open in an editor, with definitions from `workspace` when given. Raises OSError
    when a file cannot be read."""
    store = DocumentStore(encoding="utf-32")  # the column counts characters
    for file in (*open_files, path):
        store.open(file.resolve().as_uri(), language_for(None, str(file)) or "plaintext", 0,
                   file.read_text("utf-8"))
    uri = path.resolve().as_uri()
    count, render = tiny_tokenizer_functions(tokenizer)
    index = None
    if workspace is not None:
        index = WorkspaceIndex()
        index.start(workspace)
        index.wait(timeout=120)
    try:
        builder = ContextBuilder(store, count, index)
        result = report(builder, uri, Position(line=line - 1, character=column - 1), budget_tokens, render, count)
    finally:
        if index is not None:
            index.close()
    result["location"] = f"{path}:{line}:{column}"  # as given: 1-based line and column
    result["tokenizer"] = str(tokenizer) if tokenizer is not None else TINY_TOKENIZER
    return result


def tiny_tokenizer_functions(folder: Path | None = None) -> tuple[CountTokens, Render]:
    """Token counting and prompt rendering with the tokenizer in `folder` (a model or tokenizer folder,
    loaded offline), or else with the tiny fixture tokenizer (Gemma 4's chat format, but not its
    vocabulary: counts are indicative only)."""
    if folder is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    else:
        from gemma_lsp.models.tiny import build_tokenizer

        tokenizer = build_tokenizer()
    backend = tokenizer.backend_tokenizer

    def count(text: str) -> int:
        return len(backend.encode(text, add_special_tokens=False).ids)

    def render(messages: list[dict], prefill: str) -> str:
        return template.render_with(tokenizer, messages) + prefill

    return count, render
