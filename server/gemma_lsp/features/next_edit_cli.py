"""`gemma-lsp next-edit FILE:LINE:COL --edits DIFF_FILE [model options]`: print, as JSON, what a next-edit
prediction at that place sends to the model (the recent edits, the editable window, the related parts,
the messages and the rendered prompt) and what comes back (the model's reply and the edit, or why there
is none). LINE and COL are 1-based; COL counts characters. DIFF_FILE holds the recent edits as unified
diffs (each hunk is one edit, oldest first), as the server records them from the editor's changes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from gemma_lsp.config import Settings
from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.languages import language_for
from gemma_lsp.context.positions import LineIndex, Position
from gemma_lsp.engine.base import ModelUnavailable
from gemma_lsp.engine.factory import create_engine

from . import next_edit


def split_edits(diff: str) -> list[str]:
    """The hunks of a unified diff, each with its file's headers: one edit each. ValueError if none."""
    lines = diff.splitlines(keepends=True)
    edits: list[str] = []
    headers: list[str] = []
    hunk: list[str] = []

    def flush() -> None:
        if hunk:
            text = "".join(headers + hunk)
            edits.append(text if text.endswith("\n") else text + "\n")
            hunk.clear()

    for i, line in enumerate(lines):
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            flush()
            headers = [line, lines[i + 1]]
        elif line.startswith("+++ ") and i > 0 and headers and lines[i - 1] is headers[0]:
            continue  # the header pair's second line, taken above
        elif line.startswith("@@"):
            flush()
            hunk.append(line)
        elif hunk:
            hunk.append(line)
    flush()
    if not edits:
        raise ValueError("holds no unified diff hunk (lines starting with @@)")
    return edits


def run(location: tuple[Path, int, int], edits_file: Path, settings: Settings, allow_download: bool) -> int:
    """Read the file and the edits, predict, print the JSON; the exit code (2: bad input, 3: no model)."""
    path, line, column = location
    try:
        text = path.read_text("utf-8")
        edits = split_edits(edits_file.read_text("utf-8"))
    except OSError as error:
        print(f"gemma-lsp next-edit: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"gemma-lsp next-edit: --edits {edits_file} {error}", file=sys.stderr)
        return 2
    if line > len(LineIndex(text).starts):
        print(f"gemma-lsp next-edit: {path} has only {len(LineIndex(text).starts)} lines", file=sys.stderr)
        return 2
    store = DocumentStore(encoding="utf-32")  # COL counts characters
    uri = path.resolve().as_uri()
    store.open(uri, language_for(None, str(path)) or "plaintext", 0, text)
    result = asyncio.run(_predict(store, uri, Position(line=line - 1, character=column - 1), edits, settings,
                                  allow_download))
    if result is None:
        return 3
    result["location"] = f"{path}:{line}:{column}"
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


async def _predict(store: DocumentStore, uri: str, position: Position, edits: list[str], settings: Settings,
                   allow_download: bool) -> dict[str, Any] | None:
    engine = create_engine(settings, allow_download=allow_download)
    try:
        await engine.start()
    except ModelUnavailable as error:
        print(f"gemma-lsp next-edit: {error}" + (f"\nFix: {error.fix}" if error.fix else ""), file=sys.stderr)
        return None
    try:
        builder = ContextBuilder(store, engine.count_tokens)
        prompt = next_edit.build_prompt(builder, store, uri, position, edits, settings.prompt_budget_tokens)
        prediction = await next_edit.predict_from(engine, None, prompt)
        messages, prefill = next_edit.messages(prompt)
        rendered = engine.render(messages) + prefill
        result = report(prompt, prediction, store)
        result.update(messages=messages, prefill=prefill, prompt=rendered,
                      prompt_tokens=engine.count_tokens(rendered), model=engine.info.model)
    finally:
        await engine.close()
    return result


def report(prompt: next_edit.NextEditPrompt, prediction: next_edit.Prediction, store: DocumentStore) -> dict[str, Any]:
    """The prompt's parts and the prediction, as the CLI prints them (positions 0-based, as in LSP)."""
    def position(offset: int) -> dict[str, int]:
        at = store.position_at(prompt.uri, offset)
        return {"line": at.line, "character": at.character}

    edit = prediction.edit
    return {
        "uri": prompt.uri,
        "language": prompt.language,
        "edits": prompt.edits,
        "window": {"start": position(prompt.window_start), "end": position(prompt.window_end),
                   "text": prompt.window},
        "parts": [{"source": p.source, "origin": p.origin, "tokens": p.tokens, "text": p.text} for p in prompt.parts],
        "reply": prediction.reply,
        "edit": None if edit is None else {
            "range": {"start": position(edit.start), "end": position(edit.end)},
            "newText": edit.new_text,
            "label": edit.label,
        },
        "reason": prediction.reason,
    }
