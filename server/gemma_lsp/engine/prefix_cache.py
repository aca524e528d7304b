"""Reuse of prompt KV across requests: consecutive completions on one file share almost all their prompt.

An LRU of recent prompts' target caches, bounded by a byte budget. `lookup` finds the entry sharing the
longest token prefix with a new prompt and returns a fork of its cache cut to that prefix (views, no
copy: see `speculative.fork_cache`); the request then prefills only the remaining tokens. Exactness
rests on the cache discipline in speculative.py: a stored cache holds only the prompt's own KV, computed
with full-length KV on every layer, so any prefix of it is what a fresh prefill of that prefix computes,
sliding-window layers included.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .speculative import cache_bytes, fork_cache


@dataclass
class Entry:
    tokens: tuple[int, ...]
    cache: Any
    nbytes: int


class PrefixCache:
    """Least-recently-used prompt caches within `budget_bytes` (0 disables reuse)."""

    def __init__(self, budget_bytes: int, min_reuse: int = 16) -> None:
        if budget_bytes < 0:
            raise ValueError(f"the KV cache budget must be >= 0 bytes, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self.min_reuse = min_reuse  # shorter shared prefixes are not worth a lookup's bookkeeping
        self._entries: OrderedDict[tuple[int, ...], Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.used_bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, prompt: list[int]) -> tuple[Any, int]:
        """(cache fork, reused length) for the longest stored prefix of `prompt`, or (None, 0).

        At most len(prompt) - 1 tokens are reused: the last prompt token must go through the target to
        produce the first token's logits and the drafter's hidden state.
        """
        with self._lock:
            best, best_len = None, 0
            for entry in self._entries.values():
                shared = len(os.path.commonprefix([entry.tokens, tuple(prompt)]))
                if shared > best_len:
                    best, best_len = entry, shared
            reuse = min(best_len, len(prompt) - 1)
            if best is None or reuse < self.min_reuse:
                self.misses += 1
                return None, 0
            self._entries.move_to_end(best.tokens)
            self.hits += 1
            return fork_cache(best.cache, reuse), reuse

    def store(self, prompt: list[int], cache: Any) -> None:
        """Remember `cache` (holding exactly the KV of `prompt`) and evict the oldest beyond the budget.

        The stored cache is a fork, so the generation that owns `cache` may go on growing it.
        """
        key = tuple(prompt)
        snapshot = fork_cache(cache, len(prompt))
        nbytes = cache_bytes(snapshot)
        if nbytes > self.budget_bytes or len(prompt) < self.min_reuse:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used_bytes -= old.nbytes
            # A stored prompt that is a prefix of the new one is now redundant: drop it.
            for other in [e for e in self._entries.values() if key[: len(e.tokens)] == e.tokens]:
                del self._entries[other.tokens]
                self.used_bytes -= other.nbytes
            self._entries[key] = Entry(key, snapshot, nbytes)
            self.used_bytes += nbytes
            while self.used_bytes > self.budget_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.used_bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.used_bytes = 0
