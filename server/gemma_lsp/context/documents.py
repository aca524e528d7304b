"""Open documents: their text, version and tree-sitter tree, updated incrementally on every change.

An edit is applied to the text, described to the old tree (`Tree.edit`) and the file is reparsed with
the old tree, so tree-sitter reuses every unchanged subtree: a one-character edit in a 5,000-line file
costs well under a millisecond. Documents in languages we have no grammar for keep `tree = None` and
are served as plain text.

This is the server's only copy of open documents' text. pygls keeps one too (its workspace), but it
would be a second copy to keep in step, with its own line-splitting rule (`str.splitlines`, which also
breaks at form feeds and Unicode separators, where LSP and our positions do not), and it has no tree.
So the LSP layer does not feed pygls' workspace (lsp/protocol.py) and every feature (completion, code
actions, debug, the context report) reads documents here. Positions are mapped by `positions` in the
encoding negotiated at initialize, which this store holds for the documents it serves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lsprotocol import types
from tree_sitter import Parser, Tree

from .edit_history import EditHistory
from .languages import language_for, new_parser
from .positions import LineIndex, byte_offset, check_encoding, end_point, ts_point
from .symbols import SymbolTable

# Past this size a document is served as plain text: parsing it would hold up every request.
MAX_PARSE_BYTES = 4_000_000


class UnknownDocument(LookupError):
    """A request named a document that is not open."""


class StaleVersion(ValueError):
    """A change carried a version older than the document's: it was applied to other text."""


@dataclass
class Document:
    uri: str
    language_id: str
    version: int
    text: str
    language: str | None = None  # our grammar's name, None for plain text
    tree: Tree | None = None
    data: bytes = b""  # `text` in UTF-8, what `tree` was parsed from
    parser: Parser | None = field(default=None, repr=False)
    _lines: LineIndex | None = field(default=None, repr=False)
    _symbols: SymbolTable | None = field(default=None, repr=False)

    @property
    def lines(self) -> LineIndex:
        """Line starts of the current text (computed once per version, on first use)."""
        if self._lines is None or self._lines.text is not self.text:
            self._lines = LineIndex(self.text)
        return self._lines

    def symbol_table(self) -> SymbolTable | None:
        """This version's definitions (None for plain text): scanned on first use, then kept up to date
        by each single-range edit, so typing does not rescan the file."""
        if self._symbols is None and self.tree is not None and self.language is not None:
            self._symbols = SymbolTable.build(self.language, self.tree, self.data)
        return self._symbols


class DocumentStore:
    """All open documents of one server. Changes come from the event loop; a worker thread may read at
    the same time: a change replaces a document's text, data and tree together under a lock, and
    readers take a `get()` snapshot whose fields stay consistent with each other."""

    def __init__(self, encoding: str = "utf-16") -> None:
        self.encoding = check_encoding(encoding)
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()
        self.history = EditHistory()  # recent edits per document, for next-edit predictions

    def open(self, uri: str, language_id: str, version: int, text: str) -> None:
        language = language_for(language_id, uri)
        if language is not None and len(text) * 4 > MAX_PARSE_BYTES and len(text.encode("utf-8")) > MAX_PARSE_BYTES:
            language = None  # served as plain text (the cheap length test skips encoding small files)
        doc = Document(uri=uri, language_id=language_id, version=version, text=text, language=language)
        if language is not None:
            doc.parser = new_parser(language)
            doc.data = text.encode("utf-8")
            doc.tree = doc.parser.parse(doc.data)
        with self._lock:
            self._docs[uri] = doc

    def change(self, uri: str, version: int,
               changes: list[types.TextDocumentContentChangeEvent]) -> None:
        """Apply LSP content changes in order (range edits and whole-text replacements). All or
        nothing: on an error (unknown document, stale version) the document stays as it was."""
        with self._lock:
            old = self._docs.get(uri)
        if old is None:
            raise UnknownDocument(f"didChange for a document that is not open: {uri}")
        if version < old.version:
            raise StaleVersion(f"didChange version {version} for {uri} is older than the open version "
                               f"{old.version}; the change was not applied")
        # Edit a copy: a reader on another thread may still be walking the old tree.
        text, tree = old.text, old.tree.copy() if old.tree is not None else None
        lines = old.lines
        edit: tuple[int, int, int] | None = None
        steps: list[tuple[str, int, int, str, str]] = []  # each change, for the edit history
        for change in changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start = lines.offset_at(change.range.start.line, change.range.start.character, self.encoding)
                end = lines.offset_at(change.range.end.line, change.range.end.character, self.encoding)
                start, end = min(start, end), max(start, end)
                if tree is not None:
                    tree, edit = _edit_tree(tree, text, start, end, change.text)
                new_text = text[:start] + change.text + text[end:]
                lines = lines.replaced(start, end, change.text, new_text)
                steps.append((text, start, end, change.text, new_text))
                text = new_text
            else:
                steps.append((text, -1, -1, change.text, change.text))  # -1: a whole-text change
                text = change.text
                tree = None  # a whole-text change tells us nothing about what moved: parse afresh
                lines = LineIndex(text)
        doc = Document(uri=uri, language_id=old.language_id, version=version, text=text,
                       language=old.language, parser=old.parser, _lines=lines)
        if doc.parser is not None:
            doc.data = text.encode("utf-8")
            doc.tree = doc.parser.parse(doc.data, tree) if tree is not None else doc.parser.parse(doc.data)
            if old._symbols is not None and tree is not None and edit is not None and len(changes) == 1:
                changed = [(r.start_byte, r.end_byte) for r in tree.changed_ranges(doc.tree)]
                doc._symbols = old._symbols.updated(edit, changed, doc.tree)
        with self._lock:
            self._docs[uri] = doc
        for before, start, end, inserted, after in steps:
            if start < 0:
                self.history.record_whole(uri, before, after)
            else:
                self.history.record(uri, before, start, end, inserted, after)

    def close(self, uri: str) -> None:
        with self._lock:
            self._docs.pop(uri, None)
        self.history.forget(uri)

    def get(self, uri: str) -> Document | None:
        with self._lock:
            return self._docs.get(uri)

    def documents(self) -> list[Document]:
        with self._lock:
            return list(self._docs.values())

    def offset_at(self, uri: str, position: types.Position) -> int:
        """Code-point offset of an LSP position in the document's text (clamped to the text)."""
        doc = self.get(uri)
        if doc is None:
            raise UnknownDocument(f"not an open document: {uri}")
        return doc.lines.offset_at(position.line, position.character, self.encoding)

    def position_at(self, uri: str, offset: int) -> types.Position:
        doc = self.get(uri)
        if doc is None:
            raise UnknownDocument(f"not an open document: {uri}")
        line, column = doc.lines.position_at(offset, self.encoding)
        return types.Position(line=line, character=column)


def _edit_tree(tree: Tree, text: str, start: int, end: int, new_text: str) -> tuple[Tree, tuple[int, int, int]]:
    """Tell `tree` that text[start:end] was replaced by `new_text` (offsets in code points); returns it
    with the edit in bytes (start, old end, new end)."""
    start_byte = byte_offset(text, start)
    old_end_byte = start_byte + len(text[start:end].encode("utf-8"))
    new_end_byte = start_byte + len(new_text.encode("utf-8"))
    start_point = ts_point(text, start)
    old_end_point = end_point(start_point, text[start:end])
    tree.edit(
        start_byte=start_byte,
        old_end_byte=old_end_byte,
        new_end_byte=new_end_byte,
        start_point=start_point,
        old_end_point=old_end_point,
        new_end_point=end_point(start_point, new_text),
    )
    return tree, (start_byte, old_end_byte, new_end_byte)
