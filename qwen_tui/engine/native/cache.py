"""The torch-free decoder's KV cache: per layer, keys and values in float16 as [kv heads,
capacity, head dim] numpy arrays, ``length`` positions used (``engine/bigdl/decoder/cache.py``
with numpy). Room is added ahead, so appends copy nothing until it runs out."""

from __future__ import annotations

import numpy as np

ROOM = 256  # positions added beyond what a step needs when the cache grows


class NativeCache:
    def __init__(self, layers: int, kv_heads: int, head_dim: int, capacity: int = 0) -> None:
        self.kv_heads, self.head_dim = kv_heads, head_dim
        self.length = 0
        self.keys = [self._buffer(capacity) for _ in range(layers)]
        self.values = [self._buffer(capacity) for _ in range(layers)]

    def _buffer(self, capacity: int) -> np.ndarray:
        return np.empty((self.kv_heads, capacity, self.head_dim), np.float16)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[1] if self.keys else 0

    def reserve(self, positions: int) -> None:
        """Make room for ``positions`` in all (copying what is used when it grows)."""
        if positions <= self.capacity:
            return
        capacity = max(positions + ROOM, self.capacity + self.capacity // 2)
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                new = self._buffer(capacity)
                new[:, : self.length] = old[:, : self.length]
                store[i] = new

    def cropped(self, length: int) -> NativeCache:
        """A copy of the first ``length`` positions (appends to it leave this cache alone)."""
        out = NativeCache(0, self.kv_heads, self.head_dim)
        out.keys = [k[:, :length].copy() for k in self.keys]
        out.values = [v[:, :length].copy() for v in self.values]
        out.length = length
        return out

    @property
    def nbytes(self) -> int:
        """The memory it holds (what the conversation cache's budget counts)."""
        return sum(k.nbytes + v.nbytes for k, v in zip(self.keys, self.values, strict=True))
