"""Our C decoder (``csrc/decoder.c``) on numpy arrays: every layer described once, then one call
per step for all of them.

``StepDecoder`` hands ``_native.make_decoder`` the same description the torch engine's
``engine/bigdl/decoder/model.py:Decoder`` builds (per layer: its dimensions; eps and the
addresses of its norms; seven packed weights with their biases), from arrays instead of
modules, and keeps those arrays alive as long as the C side holds their addresses. ``decode``
checks every array of a step (dtype, shape, contiguity, room in the cache, positions inside the
rotary tables) before the call. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import KernelError, chosen_isa, float_kernels, library
from .arrays import address, require
from .numpy_api import PackedArray


@dataclass(frozen=True)
class LayerShape:
    """What every layer of one model shares."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    inter: int
    eps: float

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim


@dataclass(frozen=True)
class LayerWeights:
    """One layer: its norms (float32) and its seven packed projections, in the C order."""

    norm_in: np.ndarray
    norm_post: np.ndarray
    q: PackedArray
    k: PackedArray
    v: PackedArray
    o: PackedArray
    gate: PackedArray
    up: PackedArray
    down: PackedArray
    q_norm: np.ndarray | None = None  # Qwen3: an RMSNorm over each head of q and k
    k_norm: np.ndarray | None = None

    def describe(self, s: LayerShape) -> tuple:
        """The tuple ``make_decoder`` reads: (dims, (eps, norms), seven weights)."""
        require(self.norm_in, "norm_in", np.float32, shape=(s.hidden,))
        require(self.norm_post, "norm_post", np.float32, shape=(s.hidden,))
        q_norm = k_norm = 0
        if (self.q_norm is None) != (self.k_norm is None):
            raise KernelError("a layer has a q norm without a k norm, or the other way round")
        if self.q_norm is not None and self.k_norm is not None:
            q_norm = address(require(self.q_norm, "q_norm", np.float32, shape=(s.head_dim,)))
            k_norm = address(require(self.k_norm, "k_norm", np.float32, shape=(s.head_dim,)))
        weights = (self.q, self.k, self.v, self.o, self.gate, self.up, self.down)
        dims = (s.hidden, s.q_dim, s.kv_dim, s.heads, s.kv_heads, s.head_dim, s.inter)
        floats = (s.eps, address(self.norm_in), address(self.norm_post), q_norm, k_norm)
        return dims, floats, tuple(w.spec for w in weights)


class StepDecoder:
    """Every layer of a model in the C decoder (it needs AVX2: ``kernels.float_kernels``)."""

    def __init__(self, shape: LayerShape, layers: list[LayerWeights]) -> None:
        if not float_kernels():
            raise KernelError("the C decoder needs AVX2")
        self.shape = shape
        self.layers = layers  # kept: the C side holds their addresses
        self.native: Any = library().make_decoder([layer.describe(shape) for layer in layers])

    def scratch_floats(self, rows: int) -> int:
        """The float32 scratch a step of ``rows`` rows needs."""
        return int(library().decode_scratch(self.native, rows))

    def decode(
        self,
        h: np.ndarray,
        past: int,
        positions: np.ndarray,
        tables: tuple[np.ndarray, np.ndarray],
        caches: tuple[list[np.ndarray], list[np.ndarray]],
        last_only: bool,
        scratch: np.ndarray,
        threads: int,
    ) -> None:
        """Run every layer on ``h`` (float32 [rows, hidden], the embedded rows; replaced by the
        layers' output, only its first row when ``last_only``) after ``past`` cached positions:
        ``positions`` (int64 [rows]) index the rotary ``tables`` (cos, sin: float32 [n,
        head_dim]); keys and values go to ``caches`` (per layer, float16 [kv_heads, capacity,
        head_dim]) at ``past`` onwards."""
        s = self.shape
        h = require(h, "h", np.float32, dims=2, writable=True)
        rows = h.shape[0]
        if rows < 1 or h.shape[1] != s.hidden:
            raise KernelError(f"h must be [rows, {s.hidden}] with a row or more")
        positions = require(positions, "positions", np.int64, shape=(rows,))
        cos, sin = tables
        cos = require(cos, "cos", np.float32, dims=2)
        sin = require(sin, "sin", np.float32, shape=cos.shape)
        if cos.shape[1] != s.head_dim:
            raise KernelError(f"the rotary tables must be {s.head_dim} wide")
        if int(positions.min()) < 0 or int(positions.max()) >= cos.shape[0]:
            raise KernelError(f"a position is outside the {cos.shape[0]}-row rotary tables")
        keys, values = caches
        if len(keys) != len(self.layers) or len(values) != len(self.layers):
            raise KernelError(f"the cache must have {len(self.layers)} layers")
        capacity = keys[0].shape[1] if keys else 0
        for name, store in (("keys", keys), ("values", values)):
            for layer in store:
                require(layer, name, np.float16, shape=(s.kv_heads, capacity, s.head_dim),
                        writable=True)  # fmt: skip
        if past < 0 or past + rows > capacity:
            raise KernelError(f"{past} + {rows} positions do not fit a cache of {capacity}")
        scratch = require(scratch, "scratch", np.float32, dims=1, writable=True)
        if scratch.size < self.scratch_floats(rows):
            raise KernelError("the scratch is too small for this step")
        library().decode(
            chosen_isa().index, self.native, address(h), rows, past, address(positions),
            address(cos), address(sin), [address(k) for k in keys], [address(v) for v in values],
            capacity, last_only, address(scratch), max(1, threads),
        )  # fmt: skip
