"""What the context builder produces and the prompt is made from: a completion's context and its parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PartSource = Literal["prefix", "suffix", "scopes", "imports", "definition", "recent"]


@dataclass
class ContextPart:
    source: str
    text: str
    tokens: int
    origin: str | None = None  # "URI:LINE" (1-based) where the part was taken from, for related parts

    def taken_from(self, uri: str, first: int, last: int) -> bool:
        """Whether the part was taken from `uri` at a line in `first`..`last` (0-based, inclusive)."""
        origin_uri, _, line = (self.origin or "").rpartition(":")
        return origin_uri == uri and line.isdigit() and first <= int(line) - 1 <= last


@dataclass
class CompletionContext:
    uri: str
    language: str | None
    prefix: str  # the prefix window: from a line start up to the cursor
    suffix: str  # the suffix window: from the cursor to a line end
    parts: list[ContextPart]
    mode: Literal["single", "multi"]
    indent: str  # indentation of the completion's lines
    indent_unit: str = "    "
    reason: str = ""  # why this mode
    line_prefix: str = ""  # the cursor's line up to the cursor
    line_suffix: str = ""  # the cursor's line after the cursor
    version: int = 0
    offset: int = 0  # code-point offset of the cursor in the document
    line: int = 0  # 0-based line of the cursor
    budget_tokens: int = 0
    text_before: str = field(default="", repr=False)  # the whole document up to the cursor (for the cache)
    text_after: str = field(default="", repr=False)

    @property
    def total_tokens(self) -> int:
        return sum(part.tokens for part in self.parts)

    @property
    def fence(self) -> str:
        return self.language or ""

    @property
    def path(self) -> str:
        return self.uri.removeprefix("file://")
