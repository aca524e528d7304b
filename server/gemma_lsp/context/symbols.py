"""Definitions in a syntax tree, rendered the way the prompt shows them: the signature plus its
docstring or doc comment, never the whole body (a type, constant or interface is shown whole, up to a
few lines, because there the body is the definition)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import NamedTuple

from tree_sitter import Node, QueryCursor, Tree

from .languages import LANGUAGES, definitions_query

MAX_HEADER_LINES = 6
MAX_DOC_LINES = 8
MAX_WHOLE_LINES = 12
MAX_DEFINITION_CHARS = 1200
# Kinds shown as signature + doc; every other kind is shown whole (capped).
HEADER_KINDS = frozenset({"function", "method", "class", "module"})
# Nodes that wrap a definition and belong to its header: decorators, `export`, `template<...>`.
_WRAPPERS = frozenset({"decorated_definition", "export_statement", "template_declaration"})


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    kind: str  # function, method, class, module, type, interface, constant
    uri: str
    line: int  # 0-based line of the definition's first line (decorators and doc comments excluded)
    end_line: int
    text: str  # what the prompt shows
    language: str | None = None

    @property
    def origin(self) -> str:
        return f"{self.uri}:{self.line + 1}"


def _node_text(data: bytes, start: int, end: int) -> str:
    return data[start:end].decode("utf-8", errors="replace")


def _line_start(data: bytes, byte: int) -> int:
    return data.rfind(b"\n", 0, byte) + 1


def _body(node: Node) -> Node | None:
    """The body of a definition, also when it hides in a child (`const f = () => {...}`)."""
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    for child in node.named_children:
        for grandchild in (child, child.child_by_field_name("value")):
            if grandchild is not None and grandchild.id != node.id:
                body = grandchild.child_by_field_name("body")
                if body is not None:
                    return body
    return None


def _anchor(node: Node) -> Node:
    while node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent
    return node


def _python_docstring(body: Node, data: bytes) -> str:
    first = body.named_children[0] if body.named_children else None
    if first is not None and first.type == "expression_statement" and first.named_children:
        if first.named_children[0].type == "string":
            return _node_text(data, first.start_byte, first.end_byte)
    return ""


def _doc_comment(anchor: Node, data: bytes, comment_types: frozenset[str]) -> str:
    """Comments directly above `anchor` (no blank line between), top to bottom."""
    comments: list[Node] = []
    below = anchor
    sibling = anchor.prev_sibling
    while sibling is not None and sibling.type in comment_types and below.start_point[0] - sibling.end_point[0] <= 1:
        comments.append(sibling)
        below, sibling = sibling, sibling.prev_sibling
    if not comments:
        return ""
    lines = _dedent(data, comments[-1].start_byte, comments[0].end_byte).splitlines()
    return "\n".join(lines[-MAX_DOC_LINES:])


def _dedent(data: bytes, start: int, end: int) -> str:
    """Text from `start` to `end`, dedented as a block: when only indentation precedes `start` on its
    line, it is included so later lines keep their indentation relative to the first."""
    line_start = _line_start(data, start)
    if not data[line_start:start].strip():
        start = line_start
    return textwrap.dedent(_node_text(data, start, end)).strip("\n")


def _cap(text: str, max_lines: int) -> str:
    lines = text.splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + ["…"]
    text = "\n".join(lines)
    return text if len(text) <= MAX_DEFINITION_CHARS else text[:MAX_DEFINITION_CHARS] + "…"


def header_text(node: Node, data: bytes, language: str, kind: str = "function") -> str:
    """How the prompt shows definition or scope `node`: doc comment, signature, docstring, elided body."""
    spec = LANGUAGES[language]
    anchor = _anchor(node)
    doc = _doc_comment(anchor, data, spec.comment_types)
    body = _body(node) if kind in HEADER_KINDS else None
    if body is None or body.start_byte <= anchor.start_byte:
        shown = _cap(_dedent(data, anchor.start_byte, anchor.end_byte), MAX_WHOLE_LINES)
        return f"{doc}\n{shown}" if doc else shown
    header = _cap(_dedent(data, anchor.start_byte, body.start_byte).rstrip(), MAX_HEADER_LINES)
    if language == "python":
        docstring = _python_docstring(body, data)
        if docstring:
            # The string's first line starts at the body's column; give it that indentation back.
            docstring = textwrap.dedent(" " * body.start_point[1] + docstring)
        inner = textwrap.indent(_cap(docstring, MAX_DOC_LINES), "    ") if docstring else ""
        parts = [doc, header, inner, "    ..."]
    else:
        parts = [doc, f"{header} {spec.block_opener} … }}" if body.type != "expression_statement" else header]
    return "\n".join(part for part in parts if part)


def extract_definitions(language: str, tree: Tree, data: bytes, uri: str, *,
                        limit: int = 5000) -> list[Definition]:
    """The definitions `tree` holds (in document order), rendered for the prompt."""
    return [render(symbol, tree, data, uri, language) for symbol in scan(language, tree, 0, len(data), limit)]


class Symbol(NamedTuple):
    """Where a definition is in the current tree (cheap to keep and to shift; rendered on demand).
    Fields are in sort order: symbols sort by position as plain tuples."""

    start_byte: int
    end_byte: int
    name: str
    kind: str
    node_type: str


def scan(language: str, tree: Tree, start_byte: int, end_byte: int, limit: int = 100_000) -> list[Symbol]:
    """The definitions whose node lies in bytes [start_byte, end_byte) of `tree` (a definition that
    starts before the range is found by `scan_around`)."""
    cursor = QueryCursor(definitions_query(language))
    cursor.set_byte_range(start_byte, max(start_byte, end_byte))
    return _symbols(cursor, tree.root_node, limit)


def scan_around(language: str, tree: Tree, start_byte: int, end_byte: int) -> list[Symbol]:
    """`scan` of the range plus the definitions that enclose it (a query restricted to a byte range
    misses a definition whose name lies before the range)."""
    found = scan(language, tree, max(0, start_byte - 1), end_byte + 1)
    node = tree.root_node.descendant_for_byte_range(start_byte, max(start_byte, end_byte))
    cursor = QueryCursor(definitions_query(language))
    cursor.set_max_start_depth(0)
    while node is not None and node.parent is not None:
        found += _symbols(cursor, node, 100)
        node = node.parent
    return found


def _symbols(cursor: QueryCursor, node: Node, limit: int) -> list[Symbol]:
    found: list[Symbol] = []
    for _, captures in cursor.matches(node):
        names = captures.get("name")
        definition = next(((key, nodes) for key, nodes in captures.items() if key.startswith("definition.")), None)
        if not names or definition is None:
            continue
        outer = definition[1][0]
        kind = definition[0].split(".", 1)[1]
        if kind == "constant" and outer.type in _TOP_LEVEL_ONLY and outer.parent is not None \
                and outer.parent.parent is not None:
            continue
        name = names[0].text.decode("utf-8", errors="replace") if names[0].text is not None else ""
        found.append(Symbol(outer.start_byte, outer.end_byte, name, kind, outer.type))
        if len(found) >= limit:
            break
    return found


# Python assignments and Go const/var declarations are definitions at the top level only.
_TOP_LEVEL_ONLY = frozenset({"expression_statement", "const_declaration", "var_declaration"})


def render(symbol: Symbol, tree: Tree, data: bytes, uri: str, language: str) -> Definition:
    """The prompt's view of `symbol` in `tree` (parsed from `data`)."""
    node = tree.root_node.descendant_for_byte_range(symbol.start_byte, symbol.end_byte)
    while node is not None and node.type != symbol.node_type and node.parent is not None:
        node = node.parent
    assert node is not None
    return Definition(
        name=symbol.name, kind=symbol.kind, uri=uri, line=node.start_point[0], end_line=node.end_point[0],
        text=header_text(node, data, language, symbol.kind), language=language,
    )


class _Edit(NamedTuple):
    start: int  # bytes [start, old_end) became [start, new_end)
    old_end: int
    new_end: int
    dirty: tuple[tuple[int, int], ...]  # ranges (after the edit) whose symbols were scanned again
    added: tuple[Symbol, ...]  # what that scan found, in coordinates after the edit


def _through(symbol: Symbol, edits: tuple[_Edit, ...]) -> Symbol | None:
    """`symbol` moved through `edits`, or None if one of them touched it (it was scanned again)."""
    start, end = symbol.start_byte, symbol.end_byte
    for edit in edits:
        if end >= edit.start and start <= edit.old_end:
            return None
        if start > edit.old_end:
            delta = edit.new_end - edit.old_end
            start, end = start + delta, end + delta
        for lo, hi in edit.dirty:
            if start <= hi and lo <= end:
                return None
    if start == symbol.start_byte:
        return symbol
    return Symbol(start, end, symbol.name, symbol.kind, symbol.node_type)


def _moved_base(base: list[Symbol], edits: tuple[_Edit, ...]) -> list[Symbol]:
    """`_through` for a whole list at once, with numpy: what rebuilding the table costs every
    MAX_PENDING edits (a few milliseconds for thousands of symbols, not tens)."""
    if not edits:
        return list(base)
    import numpy as np  # a dependency of transformers; imported only when a table is rebuilt

    starts = np.fromiter((s.start_byte for s in base), dtype=np.int64, count=len(base))
    ends = np.fromiter((s.end_byte for s in base), dtype=np.int64, count=len(base))
    alive = np.ones(len(base), dtype=bool)
    for edit in edits:
        alive &= ~((ends >= edit.start) & (starts <= edit.old_end))
        after = starts > edit.old_end
        delta = edit.new_end - edit.old_end
        starts = np.where(after, starts + delta, starts)
        ends = np.where(after, ends + delta, ends)
        for lo, hi in edit.dirty:
            alive &= ~((starts <= hi) & (ends >= lo))
    return [symbol if start == symbol.start_byte else Symbol(start, end, symbol.name, symbol.kind, symbol.node_type)
            for symbol, start, end, keep in zip(base, starts.tolist(), ends.tolist(), alive.tolist(), strict=True)
            if keep]


class SymbolTable:
    """The definitions of one document's current tree, kept up to date edit by edit.

    After an edit only the edited region, the ranges whose syntax changed and the definitions that
    enclose them are scanned again. The edits are recorded rather than applied to every symbol: a
    lookup moves only the symbols it returns through them, and every MAX_PENDING edits the table is
    rebuilt from the records, so a keystroke costs a small scan, not a pass over the file's symbols.
    """

    MAX_PENDING = 64

    def __init__(self, language: str, base: list[Symbol], edits: tuple[_Edit, ...] = (),
                 shared: dict[str, dict[str, list[Symbol]]] | None = None) -> None:
        self.language = language
        self._base = base  # sorted, in coordinates before `edits`
        self._edits = edits
        # The base's symbols by name, built at the first lookup and shared by every table made from
        # this one with the same base: a lookup then costs the names asked, not a pass over the file.
        self._shared = shared if shared is not None else {}

    def _base_by_name(self) -> dict[str, list[Symbol]]:
        index = self._shared.get("by_name")
        if index is None:
            index = {}
            for symbol in self._base:
                index.setdefault(symbol.name, []).append(symbol)
            self._shared["by_name"] = index
        return index

    @classmethod
    def build(cls, language: str, tree: Tree, data: bytes) -> SymbolTable:
        return cls(language, sorted(scan(language, tree, 0, len(data))))

    @property
    def symbols(self) -> list[Symbol]:
        """All symbols in current coordinates, sorted."""
        current = _moved_base(self._base, self._edits)
        for index, edit in enumerate(self._edits):
            later = self._edits[index + 1:]
            current += [moved for symbol in edit.added if (moved := _through(symbol, later)) is not None]
        return sorted(set(current))

    def named(self, names: set[str], limit: int = 8) -> dict[str, list[Symbol]]:
        """The symbols called one of `names`, by name, in current coordinates. A name defined more
        than `limit` times (`__init__`, `new`) is too ambiguous to help a prompt and is left out."""
        found: dict[str, list[tuple[Symbol, int]]] = {}  # with the index of the first edit to apply
        by_name = self._base_by_name()
        for name in names:
            if name in by_name:
                found[name] = [(symbol, 0) for symbol in by_name[name]]
        for index, edit in enumerate(self._edits):
            for symbol in edit.added:
                if symbol.name in names:
                    found.setdefault(symbol.name, []).append((symbol, index + 1))
        result: dict[str, list[Symbol]] = {}
        for name, candidates in found.items():
            if sum(1 for _, first in candidates if first == 0) > limit:
                continue
            moved = {m for symbol, first in candidates if (m := _through(symbol, self._edits[first:])) is not None}
            if 0 < len(moved) <= limit:
                result[name] = sorted(moved)
        return result

    def updated(self, edit: tuple[int, int, int], changed: list[tuple[int, int]], tree: Tree) -> SymbolTable:
        """The table after bytes [start, old_end) became [start, new_end) and the new `tree` was parsed
        (`changed`: byte ranges in the new tree whose syntax changed)."""
        start, old_end, new_end = edit
        dirty = ((start, new_end), *changed)
        added = tuple(sym for lo, hi in dirty for sym in scan_around(self.language, tree, lo, hi))
        record = _Edit(start, old_end, new_end, tuple(changed), added)
        if len(self._edits) >= self.MAX_PENDING:
            table = SymbolTable(self.language, self.symbols)
            return SymbolTable(self.language, table._base, (record,))
        return SymbolTable(self.language, self._base, (*self._edits, record), self._shared)
