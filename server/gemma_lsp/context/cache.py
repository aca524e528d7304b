"""The completion cache: a suggestion stays valid while the user types through it.

An entry remembers the document's text before and after the cursor when the suggestion was made. A
later request whose text before the cursor is that text plus the start of the suggestion (and whose
text after the cursor is unchanged) gets the rest of the suggestion at once, without a model call.
Going back past the point where the suggestion was made, typing something else, or editing elsewhere
misses, and the entry is dropped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class _Entry:
    before: str
    after: str
    completion: str


class CompletionCache:
    def __init__(self, max_documents: int = 64) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_documents
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def store(self, uri: str, before: str, after: str, completion: str) -> None:
        """Remember `completion`, offered where the document reads `before` + cursor + `after`."""
        if not completion:
            return
        with self._lock:
            self._entries[uri] = _Entry(before, after, completion)
            self._entries.move_to_end(uri)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def lookup(self, uri: str, before: str, after: str) -> str | None:
        """The rest of a cached suggestion if the user has typed through its start, else None.

        Returns None (and forgets the entry) once the text no longer continues the suggestion; returns
        None but keeps the entry when the whole suggestion has been typed (nothing left to offer)."""
        with self._lock:
            entry = self._entries.get(uri)
            if entry is None:
                self.misses += 1
                return None
            typed_length = len(before) - len(entry.before)
            valid = (
                typed_length >= 0
                and after == entry.after
                and before.startswith(entry.before)
                and entry.completion.startswith(before[len(entry.before):])
            )
            if not valid:
                del self._entries[uri]
                self.misses += 1
                return None
            rest = entry.completion[typed_length:]
            if not rest:
                self.misses += 1
                return None
            self.hits += 1
            return rest

    def invalidate(self, uri: str) -> None:
        with self._lock:
            self._entries.pop(uri, None)
