"""`gemma-lsp context FILE:LINE:COL [--workspace DIR]`: print, as JSON, exactly what a completion at
that place would send to the model (each context part with its source, origin and token count, the
chat messages, the pre-fill and the rendered prompt) and the completion mode. LINE and COL are 1-based;
COL counts characters. The editor command `gemma.context` returns the same object via `report()`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol.types import Position

from gemma_lsp.config import Settings
from gemma_lsp.gemma4 import template

from .builder import ContextBuilder
from .documents import DocumentStore
from .index import WorkspaceIndex
from .languages import language_for
from .prompt import completion_messages

Render = Callable[[list[dict], str], str]  # (messages, prefill) -> the prompt text


def report(builder: ContextBuilder, uri: str, position: Position, budget_tokens: int,
           render: Render | None = None, count_tokens: Callable[[str], int] | None = None) -> dict[str, Any]:
    """The context command's answer for a completion at `position` in open document `uri`."""
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


def parse_location(location: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL (1-based) -> (path, line, column); raises ValueError with a clear message."""
    path, _, rest = location.rpartition(":")
    path, _, line = path.rpartition(":")
    if not path or not line.isdigit() or not rest.isdigit() or int(line) < 1 or int(rest) < 1:
        raise ValueError(f"expected FILE:LINE:COL with 1-based LINE and COL, got {location!r}")
    return Path(path), int(line), int(rest)


def tiny_tokenizer_functions(folder: Path | None = None) -> tuple[Callable[[str], int], Render]:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gemma-lsp context", description=__doc__.split("\n\n")[0])
    parser.add_argument("location", help="FILE:LINE:COL, 1-based; COL counts characters")
    parser.add_argument("--workspace", type=Path, help="index this folder for definitions")
    budget = Settings().prompt_budget_tokens  # the editors' default (gemma.maxContextTokens)
    parser.add_argument("--budget", type=int, default=budget, help=f"prompt token budget (default {budget})")
    parser.add_argument("--open", type=Path, action="append", default=[],
                        help="also treat this file as open in the editor (repeatable)")
    parser.add_argument("--tokenizer", type=Path,
                        help="count tokens with the tokenizer in this model folder (default: the tiny fixture one)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        path, line, column = parse_location(args.location)
        text = path.read_text("utf-8")
        if args.budget < 1:
            raise ValueError(f"--budget must be positive, got {args.budget}")
        if args.workspace is not None and not args.workspace.is_dir():
            raise ValueError(f"--workspace is not a folder: {args.workspace}")
        if args.tokenizer is not None and not args.tokenizer.is_dir():
            raise ValueError(f"--tokenizer is not a folder: {args.tokenizer}")
    except (OSError, ValueError) as error:
        print(f"gemma-lsp context: {error}", file=sys.stderr)
        return 2
    count, render = tiny_tokenizer_functions(args.tokenizer)
    store = DocumentStore(encoding="utf-32")  # COL counts characters
    for other in args.open:
        store.open(other.resolve().as_uri(), language_for(None, str(other)) or "plaintext", 0,
                   other.read_text("utf-8"))
    uri = path.resolve().as_uri()
    store.open(uri, language_for(None, str(path)) or "plaintext", 0, text)
    index = None
    if args.workspace is not None:
        index = WorkspaceIndex()
        index.start(args.workspace)
        index.wait(timeout=120)
    try:
        builder = ContextBuilder(store, count, index)
        result = report(builder, uri, Position(line=line - 1, character=column - 1), args.budget, render, count)
    finally:
        if index is not None:
            index.close()
    result["location"] = f"{path}:{line}:{column}"  # as given: 1-based line and column
    result["tokenizer"] = (str(args.tokenizer) if args.tokenizer is not None
                           else "tiny fixture tokenizer (Gemma 4 chat format; counts are indicative)")
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
