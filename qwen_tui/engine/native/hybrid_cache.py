"""What a Qwen3.5 carries from token to token: per full-attention layer its keys and values
(float16 [kv heads, capacity, head dim], as ``NativeCache``), per Gated DeltaNet layer its conv
window (the last kernel - 1 inputs) and its delta-rule state (float32 [value heads, k dim, v
dim]), and snapshots of those recurrent states at a few positions.

A recurrent state holds every position before it at once: it cannot be cut back to an earlier
one. So the cache keeps snapshots where a later prompt is likely to leave the conversation's
path (``HybridModel`` takes them while it feeds a prompt: before each turn's first token, and
before the prompt's last token, where a regenerated reply starts), at most ``SNAPSHOTS`` of
them, the latest kept. ``cropped(length)`` goes back to the last snapshot at or before
``length`` (its ``length`` says where that is, maybe 0: then nothing is reused) and the
positions after it are computed again. The keys and values need no snapshot: they are cut.
A snapshot's arrays are never written (``restore`` copies them), so crops share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cache import ROOM

SNAPSHOTS = 4  # recurrent snapshots a cache keeps (each is every linear layer's state once)


@dataclass(frozen=True)
class HybridDims:
    kinds: tuple[bool, ...]  # per layer: True for Gated DeltaNet, False for full attention
    kv_heads: int
    head_dim: int
    kernel: int
    conv_dim: int
    v_heads: int
    k_dim: int
    v_dim: int


Recurrent = list[tuple[np.ndarray, np.ndarray]]  # per linear layer: (window, state)


class HybridCache:
    def __init__(self, dims: HybridDims, capacity: int = 0) -> None:
        self.dims = dims
        self.length = 0
        self.keys: dict[int, np.ndarray] = {}
        self.values: dict[int, np.ndarray] = {}
        self.recurrent: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, linear in enumerate(dims.kinds):
            if linear:
                self.recurrent[i] = (
                    np.zeros((dims.kernel - 1, dims.conv_dim), np.float32),
                    np.zeros((dims.v_heads, dims.k_dim, dims.v_dim), np.float32),
                )
            else:
                self.keys[i], self.values[i] = self._kv(capacity), self._kv(capacity)
        self.snapshots: dict[int, Recurrent] = {}  # position -> the linear layers' states

    def _kv(self, capacity: int) -> np.ndarray:
        return np.empty((self.dims.kv_heads, capacity, self.dims.head_dim), np.float16)

    @property
    def capacity(self) -> int:
        return next(iter(self.keys.values())).shape[1] if self.keys else 2**31 - 1

    def reserve(self, positions: int) -> None:
        """Make room for ``positions`` in the KV caches (copying what is used when they grow)."""
        if positions <= self.capacity:
            return
        capacity = max(positions + ROOM, self.capacity + self.capacity // 2)
        for store in (self.keys, self.values):
            for i, old in store.items():
                new = self._kv(capacity)
                new[:, : self.length] = old[:, : self.length]
                store[i] = new

    def states(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer, what the C decoder reads and writes: (keys, values) or (window, state)."""
        return [
            self.recurrent[i] if linear else (self.keys[i], self.values[i])
            for i, linear in enumerate(self.dims.kinds)
        ]

    def snapshot(self) -> None:
        """Keep the recurrent states as they are now, at ``length`` (the oldest snapshot goes
        when there are more than ``SNAPSHOTS``)."""
        if self.length in self.snapshots:
            return
        self.snapshots[self.length] = [(w.copy(), s.copy()) for w, s in self.recurrent.values()]
        while len(self.snapshots) > SNAPSHOTS:
            del self.snapshots[min(self.snapshots)]

    def cropped(self, length: int) -> HybridCache:
        """A copy of the cache at the last position it can go back to at or before
        ``length`` (appends to it leave this cache alone): ``length`` itself when that is
        where it is or where a snapshot was kept, else the snapshot before, else 0."""
        kept = [p for p in self.snapshots if p <= length]
        at = length if length == self.length else max(kept, default=0)
        out = HybridCache.__new__(HybridCache)
        out.dims, out.length = self.dims, at
        out.keys = {i: k[:, :at].copy() for i, k in self.keys.items()}
        out.values = {i: v[:, :at].copy() for i, v in self.values.items()}
        if at == self.length:
            states = [(w.copy(), s.copy()) for w, s in self.recurrent.values()]
        elif at in self.snapshots:
            states = [(w.copy(), s.copy()) for w, s in self.snapshots[at]]
        else:  # at 0: the states of an empty cache
            states = [(np.zeros_like(w), np.zeros_like(s)) for w, s in self.recurrent.values()]
        out.recurrent = dict(zip(self.recurrent, states, strict=True))
        out.snapshots = {p: self.snapshots[p] for p in kept if p <= at}  # never written: shared
        return out

    @property
    def nbytes(self) -> int:
        """The memory it holds, snapshots included (what the conversation cache's budget
        counts)."""
        kv = sum(k.nbytes for k in self.keys.values()) + sum(v.nbytes for v in self.values.values())
        live = sum(w.nbytes + s.nbytes for w, s in self.recurrent.values())
        kept = sum(w.nbytes + s.nbytes for snap in self.snapshots.values() for w, s in snap)
        return int(kv + live + kept)
