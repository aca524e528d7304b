"""The completion prompt for Gemma 4 (no fill-in-the-middle tokens: a chat turn with a cursor marker)
and the cleaning of its reply into just the text to insert."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

CURSOR = "<CURSOR>"
SYSTEM = (
    "You are a code completion engine inside an editor. You are shown a file with the marker "
    f"{CURSOR} where the user's cursor is. Reply with only the code to insert at {CURSOR}, in one "
    "fenced code block, with no explanation. Do not repeat code that is already before or after the cursor."
)


@dataclass
class CompletionPrompt:
    messages: list[dict[str, Any]]
    prefill: str
    prefix: str
    suffix: str
    single_line: bool
    stop: list[str] = field(default_factory=list)
    stop_check: Any = None


def build(doc: Any, position: types.Position, settings: Any, window_chars: int = 6000) -> CompletionPrompt:
    lines = doc.lines
    offset = doc.offset_at_position(position)
    source = doc.source
    prefix, suffix = source[:offset], source[offset:]
    prefix, suffix = prefix[-window_chars:], suffix[: window_chars // 3]
    line_rest = suffix.split("\n", 1)[0]
    single_line = bool(line_rest.strip())
    language = getattr(doc, "language_id", None) or ""
    del lines
    user = (
        f"File: {doc.filename} ({language or 'text'})\n"
        f"```{language}\n{prefix}{CURSOR}{suffix}\n```\n"
        + ("Complete the rest of the current line only." if single_line else "Complete the code at the cursor.")
    )
    stop = ["```"] + (["\n"] if single_line else [])
    return CompletionPrompt(
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        prefill="```" + language + "\n",
        prefix=prefix,
        suffix=suffix,
        single_line=single_line,
        stop=stop,
    )


def clean(raw: str, prompt: CompletionPrompt) -> str:
    """The reply after the prefill -> the text to insert ("" rather than garbage)."""
    text = raw.split("```", 1)[0]
    if "<|" in text or "|>" in text or "\ufffd" in text or any(ord(c) < 32 and c not in "\t\n" for c in text):
        return ""  # special tokens or control characters: not code
    if prompt.single_line:
        text = text.split("\n", 1)[0]
    text = text.rstrip()
    if not text.strip():
        return ""
    # Drop what the suffix already holds (the model often repeats the rest of the line).
    rest = prompt.suffix.split("\n", 1)[0]
    if rest and text.endswith(rest):
        text = text[: -len(rest)]
    return text
