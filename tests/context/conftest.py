"""Shared helpers for the context tests: fixture files, a deterministic token counter, cursor markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol.types import Position

from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.documents import DocumentStore
from gemma_lsp.context.languages import language_for

FIXTURES = Path(__file__).parent / "fixtures"


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per four characters (deterministic and fast)."""
    return (len(text) + 3) // 4


def split_cursor(text: str, marker: str = "|") -> tuple[str, int]:
    """Text without the marker and the cursor's offset where the marker was."""
    offset = text.index(marker)
    return text[:offset] + text[offset + len(marker):], offset


def open_text(store: DocumentStore, uri: str, text: str) -> None:
    store.open(uri, language_for(None, uri) or "plaintext", 1, text)


def build_at(text_with_cursor: str, uri: str = "file:///w/main.py", budget: int = 2000,
             store: DocumentStore | None = None, index=None):
    """Open `text_with_cursor` (cursor marked "|") and build the context there."""
    text, offset = split_cursor(text_with_cursor)
    store = store or DocumentStore()
    open_text(store, uri, text)
    builder = ContextBuilder(store, count_tokens, index)
    return builder.build(uri, store.position_at(uri, offset), budget)


@pytest.fixture
def store() -> DocumentStore:
    return DocumentStore()


def position(line: int, character: int) -> Position:
    return Position(line=line, character=character)
