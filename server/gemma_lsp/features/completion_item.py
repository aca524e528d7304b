"""The inline suggestion as one ordinary completion item, for editors without inline completion.

Helix, Emacs (eglot, lsp-mode), Sublime LSP and Kate speak `textDocument/completion` only. They filter
and replace by the word being typed, so the item replaces that word: its text is the typed word plus
the suggestion, and typing on through the suggestion keeps it matching. Pure: text in, text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL_CHARS = 60
DETAIL = "Gemma"
_WORD = re.compile(r"\w*\Z")


@dataclass(frozen=True)
class SuggestionItem:
    word: str  # the word typed before the cursor, which the item replaces
    new_text: str  # word + suggestion
    label: str  # a short, one-line form of new_text

    @property
    def filter_text(self) -> str:
        return self.new_text


def suggestion_item(line_before_cursor: str, suggestion: str) -> SuggestionItem:
    """The item for `suggestion` at a cursor after `line_before_cursor` (its line's text up to it)."""
    word = _WORD.search(line_before_cursor)
    typed = word.group() if word else ""
    return SuggestionItem(typed, typed + suggestion, short_label(typed + suggestion))


def short_label(text: str) -> str:
    """The first line with text, trimmed to LABEL_CHARS; "…" says that more follows."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return text.strip() or "…"
    first = lines[0]
    if len(first) > LABEL_CHARS:
        return first[:LABEL_CHARS - 1] + "…"
    return first + ("…" if len(lines) > 1 else "")


def documentation(new_text: str, language: str) -> str:
    """Markdown showing the whole suggestion (completionItem/resolve)."""
    fence = "````" if "```" in new_text else "```"
    return f"{fence}{language}\n{new_text}\n{fence}"
