"""Qwen3.5's C decoder (``csrc/hybrid.c``) on numpy arrays: every layer described once, by its
kind, then one call per step for all of them.

``HybridDecoder`` hands ``_native.make_hybrid`` the model's shape and, per layer, the
addresses of its float weights and its packed projections, and keeps those arrays alive as
long as the C side holds their addresses. ``decode`` checks every array of a step (dtype,
shape, contiguity, room in the KV caches, each linear layer's window and state, positions
inside the rotary tables) before the call. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import KernelError, chosen_isa, float_kernels, library
from .arrays import address, require
from .numpy_api import PackedArray


@dataclass(frozen=True)
class HybridShape:
    """What every layer of one Qwen3.5 shares."""

    hidden: int
    inter: int
    heads: int  # full attention
    kv_heads: int
    head_dim: int
    rope_dim: int  # the first dims of each head that rotary turns
    k_heads: int  # Gated DeltaNet
    v_heads: int
    k_dim: int
    v_dim: int
    kernel: int  # the conv's taps
    eps: float

    @property
    def conv_dim(self) -> int:
        return 2 * self.k_heads * self.k_dim + self.v_heads * self.v_dim

    @property
    def value_dim(self) -> int:
        return self.v_heads * self.v_dim

    def numbers(self) -> tuple:
        return (self.hidden, self.inter, self.heads, self.kv_heads, self.head_dim,
                self.rope_dim, self.k_heads, self.v_heads, self.k_dim, self.v_dim, self.kernel,
                self.eps)  # fmt: skip


@dataclass(frozen=True)
class FullLayer:
    """Gated full attention: zero-centred norms already as ``1 + w``; q_proj gives each head's
    queries, then its gate."""

    norm_in: np.ndarray
    norm_post: np.ndarray
    q_norm: np.ndarray
    k_norm: np.ndarray
    q: PackedArray
    k: PackedArray
    v: PackedArray
    o: PackedArray
    gate: PackedArray
    up: PackedArray
    down: PackedArray

    def describe(self, s: HybridShape) -> tuple:
        for name, size in (("norm_in", s.hidden), ("norm_post", s.hidden),
                           ("q_norm", s.head_dim), ("k_norm", s.head_dim)):  # fmt: skip
            require(getattr(self, name), name, np.float32, shape=(size,))
        floats = (self.norm_in, self.norm_post, self.q_norm, self.k_norm)
        weights = (self.q, self.k, self.v, self.o, self.gate, self.up, self.down)
        return 0, tuple(address(f) for f in floats), tuple(w.spec for w in weights)


@dataclass(frozen=True)
class LinearLayer:
    """Gated DeltaNet: its norms (``1 + w``), in_proj_a/b in float32, the conv's taps [kernel,
    conv_dim] (oldest first), A = -exp(A_log), dt_bias, the gated norm's plain weight."""

    norm_in: np.ndarray
    norm_post: np.ndarray
    w_a: np.ndarray
    w_b: np.ndarray
    taps: np.ndarray
    A: np.ndarray  # noqa: N815 (the model's name)
    dt_bias: np.ndarray
    norm: np.ndarray
    qkv: PackedArray
    z: PackedArray
    out: PackedArray
    gate: PackedArray
    up: PackedArray
    down: PackedArray

    def describe(self, s: HybridShape) -> tuple:
        shapes = {
            "norm_in": (s.hidden,), "norm_post": (s.hidden,), "w_a": (s.v_heads, s.hidden),
            "w_b": (s.v_heads, s.hidden), "taps": (s.kernel, s.conv_dim), "A": (s.v_heads,),
            "dt_bias": (s.v_heads,), "norm": (s.v_dim,),
        }  # fmt: skip
        floats = tuple(require(getattr(self, n), n, np.float32, shape=v) for n, v in shapes.items())
        weights = (self.qkv, self.z, self.out, self.gate, self.up, self.down)
        return 1, tuple(address(f) for f in floats), tuple(w.spec for w in weights)


Layer = FullLayer | LinearLayer


class HybridDecoder:
    """Every layer of a Qwen3.5 in the C decoder (it needs AVX2: ``kernels.float_kernels``)."""

    def __init__(self, shape: HybridShape, layers: list[Layer]) -> None:
        if not float_kernels():
            raise KernelError("the C decoder needs AVX2")
        self.shape = shape
        self.layers = layers  # kept: the C side holds their addresses
        described = [layer.describe(shape) for layer in layers]
        self.native: Any = library().make_hybrid(shape.numbers(), described)

    def scratch_floats(self, rows: int) -> int:
        """The float32 scratch a step of ``rows`` rows needs."""
        return int(library().hybrid_scratch(self.native, rows))

    def decode(
        self,
        h: np.ndarray,
        past: int,
        positions: np.ndarray,
        tables: tuple[np.ndarray, np.ndarray],
        states: list[tuple[np.ndarray, np.ndarray]],
        last_only: bool,
        scratch: np.ndarray,
        threads: int,
    ) -> None:
        """Run every layer on ``h`` (float32 [rows, hidden], the embedded rows; replaced by the
        layers' output, only its first row when ``last_only``) after ``past`` positions:
        ``positions`` (int64 [rows]) index the rotary ``tables`` (cos, sin: float32 [n,
        rope_dim]). ``states`` per layer: a full layer's float16 keys and values [kv_heads,
        capacity, head_dim] (written at ``past`` onwards), a linear layer's float32 conv
        window [kernel - 1, conv_dim] and delta-rule state [v_heads, k_dim, v_dim] (carried
        on in place)."""
        s = self.shape
        h = require(h, "h", np.float32, dims=2, writable=True)
        rows = h.shape[0]
        if rows < 1 or h.shape[1] != s.hidden:
            raise KernelError(f"h must be [rows, {s.hidden}] with a row or more")
        positions = require(positions, "positions", np.int64, shape=(rows,))
        cos = require(tables[0], "cos", np.float32, dims=2)
        sin = require(tables[1], "sin", np.float32, shape=cos.shape)
        if cos.shape[1] != s.rope_dim:
            raise KernelError(f"the rotary tables must be {s.rope_dim} wide")
        if int(positions.min()) < 0 or int(positions.max()) >= cos.shape[0]:
            raise KernelError(f"a position is outside the {cos.shape[0]}-row rotary tables")
        capacity = self._check_states(states)
        if past < 0 or past + rows > capacity:
            raise KernelError(f"{past} + {rows} positions do not fit a cache of {capacity}")
        scratch = require(scratch, "scratch", np.float32, dims=1, writable=True)
        if scratch.size < self.scratch_floats(rows):
            raise KernelError("the scratch is too small for this step")
        library().hybrid_decode(
            chosen_isa().index, self.native, address(h), rows, past, address(positions),
            address(cos), address(sin), [address(a) for a, _ in states],
            [address(b) for _, b in states], capacity, last_only, address(scratch),
            max(1, threads),
        )  # fmt: skip

    def _check_states(self, states: list[tuple[np.ndarray, np.ndarray]]) -> int:
        """Each layer's state arrays checked; the KV caches' capacity (every full layer's)."""
        s = self.shape
        if len(states) != len(self.layers):
            raise KernelError(f"the states must have {len(self.layers)} layers")
        full = [a for (a, _), layer in zip(states, self.layers, strict=True)
                if isinstance(layer, FullLayer)]  # fmt: skip
        capacity = 2**31 - 1  # a model without full layers has room for any position
        if full:
            capacity = require(full[0], "keys", np.float16, dims=3).shape[1]
        for (first, second), layer in zip(states, self.layers, strict=True):
            if isinstance(layer, FullLayer):
                for name, a in (("keys", first), ("values", second)):
                    require(a, name, np.float16, shape=(s.kv_heads, capacity, s.head_dim),
                            writable=True)  # fmt: skip
            else:
                require(first, "window", np.float32, shape=(s.kernel - 1, s.conv_dim),
                        writable=True)  # fmt: skip
                require(second, "state", np.float32, shape=(s.v_heads, s.k_dim, s.v_dim),
                        writable=True)  # fmt: skip
        return capacity
