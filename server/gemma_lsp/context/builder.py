"""The context builder: what the model sees for a completion at a position, ranked and fitted to a
token budget.

Parts, in the order they are chosen:
  prefix / suffix  windows around the cursor, whole lines, cut where a statement starts;
  scopes           signatures (and docstrings) of the enclosing classes and functions that lie above
                   the prefix window;
  imports          the file's imports that lie above the prefix window;
  definition       signatures of the symbols used near the cursor, found in this file, in the other
                   open documents and in the workspace index;
  recent           snippets around recently edited or viewed places, scored by how many identifiers
                   they share with the text around the cursor.
The prefix gets what the others leave. Token counts use the model's tokenizer one line at a time and are
cached per line, so a keystroke costs one line's count; a part's count is the sum over its lines (within
a few percent of counting the part at once, and never under by more than a token a line).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol.types import Position
from tree_sitter import Node, QueryCursor

from .documents import Document, DocumentStore, UnknownDocument
from .languages import LANGUAGES, identifiers_query
from .parts import CompletionContext, ContextPart
from .positions import byte_offset
from .prompt import overhead_text, section_header
from .shape import decide_shape, indent_unit_around
from .symbols import Definition, header_text, render

if TYPE_CHECKING:
    from .index import WorkspaceIndex


SUFFIX_SHARE = 0.2  # of the budget, at most
EXTRAS_SHARE = 0.3  # scopes + imports + definitions + recent, at most
NEAR_BYTES_BEFORE = 1500  # identifiers this close to the cursor are looked up as definitions
NEAR_BYTES_AFTER = 300
MAX_NAMES = 24
MAX_DEFS_PER_NAME = 2
RECENT_PLACES = 32
RECENT_SNIPPET_LINES = 8  # each side of the place
MAX_RECENT_PARTS = 3
BOUNDARY_SEARCH_LINES = 20
INDENT_REFRESH = 100  # the prompt's heading around each extra part
# Containers whose children are statements or declarations, across the eight grammars.
_BLOCKS = frozenset({
    "module", "block", "program", "statement_block", "class_body", "source_file", "translation_unit",
    "compound_statement", "declaration_list", "field_declaration_list", "interface_body", "enum_body",
    "constructor_body", "object_type", "switch_body", "expression_case", "default_case", "case_clause",
})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class _Place:
    uri: str
    line: int
    when: float


class ContextBuilder:
    def __init__(self, store: DocumentStore, count_tokens: Callable[[str], int],
                 index: WorkspaceIndex | None = None) -> None:
        self.store = store
        self.count_tokens = count_tokens
        self.index = index
        self._line_tokens: dict[str, int] = {}
        self._recent: deque[_Place] = deque(maxlen=RECENT_PLACES)
        self._units: dict[str, tuple[int, str]] = {}
        # Per document, the window line counts of the last build and the text they were counted on
        # (see _LineWalk): the next keystroke's build reuses them where that text is unchanged.
        self._walks: dict[str, tuple[str, tuple[int, ...], str, tuple[int, ...]]] = {}
        # Statement depths of lines, for the current build's document version only.
        self._depths: dict[tuple[str, int, int], int | None] = {}
        self._lock = threading.Lock()

    # -- recent places ---------------------------------------------------------------------------------
    def note_viewed(self, uri: str, position: Position) -> None:
        self._note(uri, position.line)

    def note_edited(self, uri: str, position: Position) -> None:
        self._note(uri, position.line)

    def _note(self, uri: str, line: int) -> None:
        with self._lock:
            # One entry per neighbourhood: moving within a few lines refreshes it.
            for place in list(self._recent):
                if place.uri == uri and abs(place.line - line) <= RECENT_SNIPPET_LINES:
                    self._recent.remove(place)
            self._recent.append(_Place(uri, line, time.monotonic()))

    def _indent_unit(self, doc: Document, line: int) -> str:
        """The document's indentation step, detected again every INDENT_REFRESH versions (it rarely
        changes, and detecting it reads 200 lines)."""
        with self._lock:
            cached = self._units.get(doc.uri)
        if cached is not None and 0 <= doc.version - cached[0] < INDENT_REFRESH:
            return cached[1]
        unit = indent_unit_around(doc.lines, line, doc.language)
        with self._lock:
            if len(self._units) > 256:
                self._units.clear()
            self._units[doc.uri] = (doc.version, unit)
        return unit

    # -- token counting --------------------------------------------------------------------------------
    def set_token_counter(self, count_tokens: Callable[[str], int]) -> None:
        """Count with another tokenizer from now on (the model loaded); cached counts are dropped."""
        self.count_tokens = count_tokens
        self._line_tokens = {}
        self._walks = {}

    def tokens(self, text: str) -> int:
        """Tokens of `text`, counted line by line with a cache (see the module docstring)."""
        total = 0
        cache = self._line_tokens
        for line in text.splitlines(keepends=True):
            count = cache.get(line)
            if count is None:
                if len(cache) > 200_000:
                    cache.clear()  # bounded memory; a burst of recounting is cheap
                count = cache[line] = self.count_tokens(line)
            total += count
        return total

    # -- the build -------------------------------------------------------------------------------------
    def build(self, uri: str, position: Position, budget_tokens: int) -> CompletionContext:
        """The context for a completion at `position` in open document `uri`, its parts' token counts
        summing to at most `budget_tokens` (minus what the prompt's own text takes)."""
        doc = self.store.get(uri)
        if doc is None:
            raise UnknownDocument(f"not an open document: {uri}")
        if budget_tokens <= 0:
            raise ValueError(f"budget_tokens must be positive, got {budget_tokens}")
        lines = doc.lines
        if len(self._depths) > 1000:
            self._depths.clear()
        offset = lines.offset_at(position.line, position.character, self.store.encoding)
        cursor_line = lines.line_of(offset)
        root = doc.tree.root_node if doc.tree is not None else None
        shape = decide_shape(lines, offset, doc.language, root, self._indent_unit(doc, cursor_line))

        path = uri.removeprefix("file://")
        available = max(16, budget_tokens - self.tokens(overhead_text(doc.language, path)))
        walk = _LineWalk(self, doc, cursor_line)
        suffix_part, suffix_end = self._suffix(doc, offset, cursor_line, int(available * SUFFIX_SHARE), walk)
        prefix_cap = available - suffix_part.tokens - int(available * EXTRAS_SHARE)
        prefix_part, prefix_start = self._prefix(doc, offset, cursor_line, prefix_cap, walk)
        window = (prefix_start, lines.line_of(suffix_end))
        extras_cap = available - prefix_part.tokens - suffix_part.tokens
        extras, extras_cost = self._extras(doc, offset, cursor_line, root, window, extras_cap)
        # The prefix takes whatever the extras left over; extras it now covers are dropped.
        spare = extras_cap - extras_cost
        if spare > 0 and prefix_start > 0:
            prefix_part, prefix_start = self._prefix(doc, offset, cursor_line, prefix_part.tokens + spare, walk)
            extras = [part for part in extras if not _covered(part, uri, prefix_start, window[1])]
        walk.remember()
        return CompletionContext(
            uri=uri, language=doc.language, prefix=prefix_part.text, suffix=suffix_part.text,
            parts=[*extras, prefix_part, suffix_part], mode=shape.mode, indent=shape.indent,
            indent_unit=shape.indent_unit, reason=shape.reason, line_prefix=shape.line_prefix,
            line_suffix=shape.line_suffix, version=doc.version, offset=offset, line=cursor_line,
            budget_tokens=budget_tokens, text_before=doc.text[:offset], text_after=doc.text[offset:],
        )

    def _prefix(self, doc: Document, offset: int, cursor_line: int, cap: int,
                walk: _LineWalk | None = None) -> tuple[ContextPart, int]:
        """Whole lines above the cursor within `cap` tokens, starting where a statement starts. `walk`
        carries the line counts of an earlier call in the same build (the prefix is sized twice)."""
        lines = doc.lines
        start = lines.starts[cursor_line]
        used = self.tokens(doc.text[start:offset])
        walk = walk or _LineWalk(self, doc, cursor_line)
        first = cursor_line
        while first > 0:
            cost = walk.above(cursor_line - first)
            if used + cost > cap:
                break
            used += cost
            first -= 1
        if 0 < first < cursor_line:
            # Start where a statement starts, if one does before the cursor's line; else whole lines.
            first = self._statement_start(doc, first, cursor_line - 1, forward=True)
        text = doc.text[lines.starts[first]:offset]
        return ContextPart("prefix", text, self.tokens(text), f"{doc.uri}:{first + 1}"), first

    def _suffix(self, doc: Document, offset: int, cursor_line: int, cap: int,
                walk: _LineWalk | None = None) -> tuple[ContextPart, int]:
        """The rest of the cursor's line and whole lines below within `cap` tokens."""
        lines = doc.lines
        count = len(lines.starts)
        end_of_line = lines.line_end(cursor_line)
        used = self.tokens(doc.text[offset:end_of_line])
        walk = walk or _LineWalk(self, doc, cursor_line)
        last = cursor_line
        while last + 1 < count:
            cost = walk.below(last - cursor_line)
            if used + cost > cap:
                break
            used += cost
            last += 1
        if last + 1 < count and last > cursor_line:
            # End the window just before a statement starts, so it does not stop mid-statement.
            last = max(cursor_line, self._statement_start(doc, last + 1, cursor_line + 1, forward=False) - 1)
        end = lines.line_end(last)
        text = doc.text[offset:end]
        return ContextPart("suffix", text, self.tokens(text), f"{doc.uri}:{cursor_line + 1}"), end

    def _statement_start(self, doc: Document, line: int, limit: int, *, forward: bool) -> int:
        """The line, from `line` towards `limit` and at most BOUNDARY_SEARCH_LINES away, whose first
        token starts a statement or definition: going forward (where the prefix window starts) the
        outermost one, nearest among equals; going backward (where the suffix window ends) the nearest.
        `line` itself when there is no tree or no such line."""
        if doc.tree is None:
            return line
        lines = doc.lines
        step = 1 if forward else -1
        best: tuple[int, int] | None = None  # (depth, line)
        candidate = line
        for _ in range(BOUNDARY_SEARCH_LINES):
            if (forward and candidate > limit) or (not forward and candidate < limit):
                break
            text = lines.line_text(candidate)
            key = (doc.uri, doc.version, candidate)
            depth = self._depths[key] if key in self._depths else \
                self._depths.setdefault(key, _statement_depth(doc, candidate, text) if text.strip() else None)
            if depth is not None and (best is None or depth < best[0]):
                best = (depth, candidate)
                if not forward or depth == 1:
                    # The window's end: the nearest statement start will do. The window's start: a
                    # top-level one (depth 1) cannot be beaten by any farther line.
                    break
            candidate += step
        return best[1] if best is not None else line

    def _extras(self, doc: Document, offset: int, cursor_line: int, root: Node | None,
                window: tuple[int, int], cap: int) -> tuple[list[ContextPart], int]:
        """The related parts that fit in `cap` tokens, with their headings' cost included."""
        chosen: list[ContextPart] = []
        used = 0

        def add(part: ContextPart) -> bool:
            nonlocal used
            cost = part.tokens + self.tokens(section_header(part, doc.language or ""))
            if used + cost > cap:
                return False
            chosen.append(part)
            used += cost
            return True

        scope_lines: set[int] = set()
        if root is not None and doc.language is not None:
            # The innermost scope matters most: choose from the inside out, show from the outside in.
            for part, line in reversed(self._scopes(doc, offset, root, window[0])):
                scope_lines.add(line)
                add(part)
            chosen.reverse()
            imports = self._imports(doc, root, window[0])
            if imports is not None:
                add(imports)
        names = self._names_near(doc, offset, root)
        for definition in self._definitions(doc, names, window, scope_lines):
            add(ContextPart("definition", definition.text, self.tokens(definition.text), definition.origin))
        for part in self._recent_parts(doc, names, window):
            add(part)
        return chosen, used

    def _scopes(self, doc: Document, offset: int, root: Node, window_start: int):
        spec = LANGUAGES[doc.language or ""]
        byte = byte_offset(doc.text, offset)
        node: Node | None = root.descendant_for_byte_range(byte, byte)
        found: list[tuple[ContextPart, int]] = []
        while node is not None:
            if node.type in spec.scope_types and node.start_point[0] < window_start:
                kind = "class" if "class" in node.type or node.type in ("impl_item", "trait_item") else "function"
                text = header_text(node, doc.data, doc.language or "", kind)
                found.append((ContextPart("scopes", text, self.tokens(text), f"{doc.uri}:{node.start_point[0] + 1}"),
                              node.start_point[0]))
            node = node.parent
        return list(reversed(found))  # outermost first

    def _imports(self, doc: Document, root: Node, window_start: int) -> ContextPart | None:
        spec = LANGUAGES[doc.language or ""]
        pieces: list[str] = []
        first_line: int | None = None
        since_import = 0
        for child in _children(root):
            if child.start_point[0] >= window_start or since_import > 50:
                break  # imports sit at the top: stop looking well after the last one
            if child.type in spec.import_types:
                piece = doc.data[child.start_byte:child.end_byte].decode("utf-8", errors="replace")
                pieces.append(piece.rstrip())  # #include nodes hold their newline
                first_line = child.start_point[0] if first_line is None else first_line
                since_import = 0
            else:
                since_import += 1
        if not pieces:
            return None
        text = "\n".join(pieces)
        return ContextPart("imports", text, self.tokens(text), f"{doc.uri}:{(first_line or 0) + 1}")

    def _names_near(self, doc: Document, offset: int, root: Node | None) -> list[str]:
        """Identifiers around the cursor, nearest first (syntax nodes, or words without a tree)."""
        words: list[tuple[int, str, Node | None]]
        if root is None or doc.language is None:
            start = max(0, offset - NEAR_BYTES_BEFORE)
            words = [(abs(m.start() + start - offset), m.group(), None)
                     for m in _WORD.finditer(doc.text, start, offset + NEAR_BYTES_AFTER)]
        else:
            byte = byte_offset(doc.text, offset)
            cursor = QueryCursor(identifiers_query(doc.language))
            cursor.set_byte_range(max(0, byte - NEAR_BYTES_BEFORE), min(len(doc.data), byte + NEAR_BYTES_AFTER))
            words = [(abs(node.start_byte - byte), doc.data[node.start_byte:node.end_byte].decode("utf-8", "replace"),
                      node) for node in cursor.captures(root).get("id", [])]
        words.sort(key=lambda item: item[0])
        chosen: dict[str, None] = {}
        for _, word, node in words:
            if len(word) > 1 and word not in chosen and (node is None or not _names_a_definition(node)):
                chosen[word] = None
                if len(chosen) >= MAX_NAMES:
                    break
        return list(chosen)

    def _definitions(self, doc: Document, names: list[str], window: tuple[int, int],
                     scope_lines: set[int]) -> list[Definition]:
        if not names:
            return []
        others = [d for d in self.store.documents() if d.uri != doc.uri and d.tree is not None]
        documents = [doc, *others]
        open_uris = {d.uri for d in documents}
        wanted = set(names)
        matches = [(d, table.named(wanted)) for d in documents if (table := d.symbol_table()) is not None]
        found: list[Definition] = []
        for name in names:
            candidates = [render(symbol, d.tree, d.data, d.uri, d.language or "")
                          for d, by_name in matches if d.tree is not None
                          for symbol in by_name.get(name, ())[:MAX_DEFS_PER_NAME * 2]]
            if self.index is not None:
                # The index's copy of an open file may be stale: the open document wins.
                candidates += [d for d in self.index.lookup(name) if d.uri not in open_uris]
            picked = 0
            for definition in candidates:
                if definition.uri == doc.uri and (
                    window[0] <= definition.line <= window[1] or definition.line in scope_lines
                    or definition.line <= window[0] <= definition.end_line  # encloses the window
                ):
                    continue
                found.append(definition)
                picked += 1
                if picked >= MAX_DEFS_PER_NAME:
                    break
        return found

    def _recent_parts(self, doc: Document, names: list[str], window: tuple[int, int]) -> list[ContextPart]:
        with self._lock:
            places = list(reversed(self._recent))
        near = set(names)
        if not near or not places:
            return []
        scored: list[tuple[float, float, ContextPart]] = []
        for place in places:
            other = self.store.get(place.uri)
            if other is None:
                continue
            if place.uri == doc.uri and window[0] - RECENT_SNIPPET_LINES <= place.line <= window[1] + RECENT_SNIPPET_LINES:
                continue
            count = len(other.lines.starts)
            first = max(0, place.line - RECENT_SNIPPET_LINES)
            last = min(count - 1, place.line + RECENT_SNIPPET_LINES)
            if first > last:
                continue
            text = other.text[other.lines.starts[first]:other.lines.starts[last] + len(other.lines.line_text(last))]
            words = set(_WORD.findall(text))
            if not words:
                continue
            score = len(words & near) / len(words | near)  # Jaccard overlap of identifiers
            if score > 0:
                part = ContextPart("recent", text, self.tokens(text), f"{place.uri}:{first + 1}")
                scored.append((score, place.when, part))
        scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [part for _, _, part in scored[:MAX_RECENT_PARTS]]


# Characters `str.splitlines` breaks at besides "\n" (LSP lines break at "\r" too): where one occurs,
# a line's count is taken the slow way, exactly as `ContextBuilder.tokens` counts it.
_OTHER_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_WALK_BLOCK = 64  # lines split at once


class _LineWalk:
    """The token counts of whole lines walking away from the cursor, as the windows are grown line by
    line: `above(i)` is the cost of line cursor_line - 1 - i with its break, `tokens(line + "\n")`;
    `below(i)` that of line cursor_line + 1 + i after a break, `tokens("\n" + line)`.

    Lines are split off a block at a time (one split in C instead of a slice and a concatenation
    each) and counted one by one as the window asks for them (a line no earlier build counted costs a
    tokenizer call: ~50 µs for the tiny tokenizer); a block holding any other break character is split
    the original way, so every count is exactly what `tokens` gives.

    A keystroke changes the cursor's line and nothing around it: the counts of the document's last
    build are taken over when the text of the lines they were counted on is still there, as it was,
    right above (below) the cursor's line. A count depends only on its line's text, so equal text
    means equal counts."""

    def __init__(self, builder: ContextBuilder, doc: Document, cursor_line: int) -> None:
        self.builder, self.doc, self.cursor_line = builder, doc, cursor_line
        self._above: list[int] = []
        self._below: list[int] = []
        self._up: list[str] = []  # lines split off but not yet counted, nearest last
        self._down: list[str] = []
        self._down_plain = True
        self._newline = 0
        memo = builder._walks.get(doc.uri)
        if memo is not None:
            above_text, above, below_text, below = memo
            starts, text = doc.lines.starts, doc.text
            first = cursor_line - len(above)
            if first >= 0 and starts[cursor_line] - starts[first] == len(above_text) \
                    and text.startswith(above_text, starts[first]):
                self._above = list(above)
            last = cursor_line + len(below)
            if below and last < len(starts) and doc.lines.line_end(last) - starts[cursor_line + 1] == len(below_text) \
                    and text.startswith(below_text, starts[cursor_line + 1]):
                self._below = list(below)

    def remember(self) -> None:
        """Keep this build's counts, and the text they were counted on, for the document's next build."""
        starts, text, line = self.doc.lines.starts, self.doc.text, self.cursor_line
        above_text = text[starts[line - len(self._above)]:starts[line]]
        below_text = text[starts[line + 1]:self.doc.lines.line_end(line + len(self._below))] if self._below else ""
        walks = self.builder._walks
        if len(walks) > 64 and self.doc.uri not in walks:
            walks.clear()
        walks[self.doc.uri] = (above_text, tuple(self._above), below_text, tuple(self._below))

    def above(self, i: int) -> int:
        counts, cache = self._above, self.builder._line_tokens
        while len(counts) <= i:
            if not self._up:
                self._split_up()
            piece = self._up.pop()  # the nearest line not yet counted, with its "\n"
            value = cache.get(piece)
            counts.append(value if value is not None else self.builder.tokens(piece))
        return counts[i]

    def below(self, i: int) -> int:
        counts, cache = self._below, self.builder._line_tokens
        while len(counts) <= i:
            if not self._down:
                self._split_down()
            piece = self._down.pop()
            if self._down_plain:  # the line alone: its count after the "\n"'s
                value = cache.get(piece) if piece else 0
                counts.append(self._newline + (value if value is not None else self.builder.tokens(piece)))
            else:  # "\n" + the line, counted as `tokens` counts it
                counts.append(self.builder.tokens(piece))
        return counts[i]

    def _split_up(self) -> None:
        """The next block of lines above, split but not counted (a line is counted when asked for)."""
        lines = self.doc.lines
        last = self.cursor_line - 1 - len(self._above)
        first = max(0, last - _WALK_BLOCK + 1)
        block = self.doc.text[lines.starts[first]:lines.starts[last + 1]]
        if _OTHER_BREAKS.search(block) is None:
            self._up = block.splitlines(keepends=True)  # "line\n" each, as `tokens` would split them
        else:
            self._up = [lines.line_text(line) + "\n" for line in range(first, last + 1)]

    def _split_down(self) -> None:
        lines = self.doc.lines
        first = self.cursor_line + 1 + len(self._below)
        last = min(len(lines.starts) - 1, first + _WALK_BLOCK - 1)
        block = self.doc.text[lines.starts[first]:lines.line_end(last)]
        self._down_plain = _OTHER_BREAKS.search(block) is None
        if self._down_plain:
            self._down = block.split("\n")
            self._newline = self.builder.tokens("\n")
        else:
            self._down = ["\n" + lines.line_text(line) for line in range(first, last + 1)]
        self._down.reverse()  # nearest last, for pop()


def _statement_depth(doc: Document, line: int, text: str) -> int | None:
    """How deeply nested the statement or definition that `line`'s first token begins is (0: top
    level), or None when that token does not begin one (e.g. it continues an argument list)."""
    assert doc.tree is not None
    column = len(text) - len(text.lstrip())
    start = (line, len(text[:column].encode("utf-8")))
    node = doc.tree.root_node.descendant_for_point_range(start, start)
    while node is not None and node.parent is not None and node.parent.start_point == node.start_point:
        node = node.parent
    if node is None or node.start_point != start or node.parent is None:
        return None
    if node.parent.parent is not None and node.parent.type not in _BLOCKS:
        return None
    depth = 0
    ancestor: Node | None = node.parent
    while ancestor is not None:
        depth += 1
        ancestor = ancestor.parent
    return depth


def _children(node: Node) -> Iterator[Node]:
    """`node`'s children one at a time (`Node.children` builds them all: a module's thousand)."""
    cursor = node.walk()
    if cursor.goto_first_child():
        yield cursor.node  # type: ignore[misc]
        while cursor.goto_next_sibling():
            yield cursor.node  # type: ignore[misc]


def _names_a_definition(node: Node) -> bool:
    """Whether `node` is the name a definition with a body gives (`def f(): ...`, `class A {...}`):
    those are not uses (`struct buffer *b`, a C struct without a body, is one)."""
    parent = node.parent
    if parent is None:
        return False
    named = parent.child_by_field_name("name")
    return named is not None and named.id == node.id and parent.child_by_field_name("body") is not None


def _covered(part: ContextPart, uri: str, first: int, last: int) -> bool:
    if part.source not in ("scopes", "imports", "definition", "recent") or not part.origin:
        return False
    return part.taken_from(uri, first, last)
