"""Per-conversation KV caches kept between turns, bounded by memory (LRU).

An entry holds the token ids the model has already seen and their past
key/values. The next turn reuses the longest common prefix and prefills only
what is new; a history that changed (edit, regenerate, system prompt, dropped
turns) shares a shorter prefix, and the cache is cut back to it (a recurrent
model's, to its last snapshot at or before it: the reply's stats count what was
reused).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass
class CacheEntry:
    ids: list[int]
    past: Any  # a decoder's cache, or a tuple per layer of (key, value) tensors
    seq_dim: int  # which tensor dimension is the sequence

    @property
    def nbytes(self) -> int:
        if hasattr(self.past, "nbytes"):  # a cache that counts itself (numpy's)
            return int(self.past.nbytes)
        seen: set[int] = set()
        total = 0
        for layer in self.past:
            for t in layer:
                storage = t.untyped_storage()
                if storage.data_ptr() not in seen:
                    seen.add(storage.data_ptr())
                    total += storage.nbytes()
        return total


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def seq_dim_of(past: Any, length: int) -> int | None:
    """Find the sequence dimension of a legacy past (dims 1 or 2 in Qwen caches)."""
    key = past[0][0]
    dims = [d for d in (2, 1) if key.dim() > d and key.shape[d] == length]
    return dims[0] if len(dims) == 1 else None


def crop(entry: CacheEntry, length: int) -> CacheEntry:
    """A copy of the first ``length`` positions (copied so in-place appends stay private). A
    recurrent model's cache may go back further, to the last position it kept a snapshot of
    (``native/hybrid_cache.py``): the entry's ids are then cut there."""
    if hasattr(entry.past, "cropped"):  # the decoder's own cache
        past = entry.past.cropped(length)
        return CacheEntry(entry.ids[: past.length], past, entry.seq_dim)
    past = tuple(
        tuple(t.narrow(entry.seq_dim, 0, length).clone() for t in layer) for layer in entry.past
    )
    return CacheEntry(entry.ids[:length], past, entry.seq_dim)


class KVCacheStore:
    """Thread-safe: replies take and put entries on the torch thread while the UI drops
    those of deleted or edited chats. A drop also voids a put still to come for that key
    (the reply that took the entry before the chat was deleted)."""

    def __init__(self, budget_bytes: int, max_entries: int = 8) -> None:
        self.budget = budget_bytes
        self.max_entries = max_entries
        self.entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._stamps: dict[str, int] = {}  # bumped by each drop of a key

    def take(self, key: str) -> tuple[CacheEntry | None, int]:
        """Remove and return the entry, and the stamp ``put`` wants back."""
        with self._lock:
            return self.entries.pop(key, None), self._stamps.get(key, 0)

    def put(self, key: str, entry: CacheEntry, stamp: int = 0) -> bool:
        """Keep ``entry`` unless the key was dropped since ``take`` gave ``stamp``."""
        with self._lock:
            if self._stamps.get(key, 0) != stamp:
                return False
            self.entries[key] = entry
            self.entries.move_to_end(key)
            self._evict()
            return True

    def drop(self, key: str) -> None:
        with self._lock:
            self.entries.pop(key, None)
            self._stamps[key] = self._stamps.get(key, 0) + 1

    def clear(self) -> None:
        with self._lock:
            for key in self.entries:
                self._stamps[key] = self._stamps.get(key, 0) + 1
            self.entries.clear()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes()

    def _nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    def _evict(self) -> None:
        while self.entries and (
            len(self.entries) > self.max_entries or self._nbytes() > self.budget
        ):
            self.entries.popitem(last=False)
