"""Qwen3.5's Gated DeltaNet kernels (``csrc/deltanet.c``) on numpy arrays: the causal conv with
its window, the L2 norms and gates, the gated delta rule on a carried state, the gated RMSNorm,
and the float32 projections of ``in_proj_a``/``in_proj_b``. ``deltanet_mix`` chains them as
``eval/float_deltanet.py:deltanet_mix`` does (the reference the tests hold them to); the
decoder (``hybrid_api.py``) runs the same C functions inside its one call a step.

Every array is checked (dtype, shape, C-contiguity, writability) before its address reaches C;
a failed check raises ``KernelError``. They need AVX2 (``kernels.float_kernels()``). Nothing
here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import KernelError, library
from .arrays import address, require


def _threads(threads: int) -> int:
    return max(1, int(threads))


def _rows(x: np.ndarray, name: str, width: int) -> int:
    x = require(x, name, np.float32, dims=2)
    if x.shape[0] < 1 or x.shape[1] != width:
        raise KernelError(f"{name} must be [rows, {width}] with a row or more")
    return int(x.shape[0])


def deltanet_conv(
    qkv: np.ndarray, window: np.ndarray, taps: np.ndarray, threads: int
) -> np.ndarray:
    """SiLU of the causal depthwise conv of ``qkv`` [rows, channels] by ``taps`` [kernel,
    channels] (oldest first), the ``window`` [kernel - 1, channels] of inputs before in front;
    the window then holds the last kernel - 1 inputs (updated in place)."""
    taps = require(taps, "taps", np.float32, dims=2)
    kernel, channels = taps.shape
    if channels % 8 or kernel < 1:
        raise KernelError("the conv needs a multiple of 8 channels and a kernel of 1 or more")
    rows = _rows(qkv, "qkv", channels)
    require(window, "window", np.float32, shape=(kernel - 1, channels), writable=True)
    out = np.empty_like(qkv)
    library().deltanet_conv(
        address(qkv), channels, rows, channels, kernel, address(window), address(taps),
        address(out), channels, _threads(threads),
    )  # fmt: skip
    return out


def deltanet_gates(
    mixed: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    A: np.ndarray,  # noqa: N803 (the model's name)
    dt_bias: np.ndarray,
    k_heads: int,
    k_dim: int,
    threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    """q and k of ``mixed`` [rows, q|k|v] L2-normed in place (q times 1/sqrt(k_dim)); the log
    decays g = A * softplus(a + dt_bias) and beta = sigmoid(b), each [rows, v_heads]."""
    rows, width = require(mixed, "mixed", np.float32, dims=2, writable=True).shape
    if k_dim % 8 or 2 * k_heads * k_dim > width:
        raise KernelError("mixed is narrower than its q and k, or k_dim is not a multiple of 8")
    heads = require(A, "A", np.float32, dims=1).shape[0]
    require(dt_bias, "dt_bias", np.float32, shape=(heads,))
    for name, x in (("a", a), ("b", b)):
        require(x, name, np.float32, shape=(rows, heads))
    g, beta = np.empty((rows, heads), np.float32), np.empty((rows, heads), np.float32)
    key = k_heads * k_dim
    base = address(mixed)
    library().deltanet_gates(
        base, base + 4 * key, width, rows, k_heads, k_dim, address(a), address(b), heads, heads,
        address(A), address(dt_bias), address(g), address(beta), _threads(threads),
    )  # fmt: skip
    return g, beta


def deltanet_rule(
    mixed: np.ndarray,
    g: np.ndarray,
    beta: np.ndarray,
    state: np.ndarray,
    k_heads: int,
    threads: int,
) -> np.ndarray:
    """The gated delta rule token by token on ``state`` [v_heads, k_dim, v_dim] (updated in
    place), reading q, k (normed) and v from ``mixed`` [rows, q|k|v]; the output [rows,
    v_heads * v_dim]. Value head h reads key head h // (v_heads / k_heads)."""
    rows, width = require(mixed, "mixed", np.float32, dims=2).shape
    heads, k_dim, v_dim = require(state, "state", np.float32, dims=3, writable=True).shape
    if k_heads < 1 or heads % k_heads or v_dim % 8:
        raise KernelError("value heads must be a multiple of key heads, v_dim a multiple of 8")
    key = k_heads * k_dim
    if width != 2 * key + heads * v_dim:
        raise KernelError(f"mixed must be {2 * key + heads * v_dim} wide (q, k, v)")
    for name, x in (("g", g), ("beta", beta)):
        require(x, name, np.float32, shape=(rows, heads))
    out = np.empty((rows, heads * v_dim), np.float32)
    base = address(mixed)
    library().deltanet_rule(
        base, base + 4 * key, width, base + 8 * key, width, rows, k_heads, heads, k_dim, v_dim,
        address(g), address(beta), address(state), address(out), heads * v_dim,
        _threads(threads),
    )  # fmt: skip
    return out


def gated_rms_norm(
    x: np.ndarray, z: np.ndarray, weight: np.ndarray, eps: float, threads: int
) -> np.ndarray:
    """``(weight * x / sqrt(mean(x^2) + eps)) * silu(z)`` per row of float32 [rows, n]."""
    n = require(weight, "weight", np.float32, dims=1).shape[0]
    rows = _rows(x, "x", n)
    require(z, "z", np.float32, shape=x.shape)
    if n % 8:
        raise KernelError(f"gated_rms_norm: {n} values per row is not a multiple of 8")
    out = np.empty_like(x)
    library().gated_rms_norm(
        address(x), address(z), address(weight), address(out), rows, n, float(eps),
        _threads(threads),
    )  # fmt: skip
    return out


def float_matmul(x: np.ndarray, weight: np.ndarray, threads: int) -> np.ndarray:
    """``x @ weight.T`` for float32 x [rows, n] and weight [m, n] (n a multiple of 8)."""
    m, n = require(weight, "weight", np.float32, dims=2).shape
    rows = _rows(x, "x", n)
    if n % 8:
        raise KernelError(f"float_matmul: {n} values per row is not a multiple of 8")
    out = np.empty((rows, m), np.float32)
    library().float_matmul(address(x), rows, n, address(weight), m, address(out), m,
                           _threads(threads))  # fmt: skip
    return out


@dataclass(frozen=True)
class DeltaNetShape:
    k_heads: int
    k_dim: int
    v_dim: int
    eps: float


def deltanet_mix(
    qkv: np.ndarray,
    z: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    taps: np.ndarray,
    A: np.ndarray,  # noqa: N803
    dt_bias: np.ndarray,
    norm: np.ndarray,
    shape: DeltaNetShape,
    window: np.ndarray,
    state: np.ndarray,
    threads: int,
) -> np.ndarray:
    """``eval/float_deltanet.py:deltanet_mix`` on these kernels: the projections' outputs in,
    what ``out_proj`` takes [rows, v_heads * v_dim] out; ``window`` and ``state`` carry on (in
    place)."""
    mixed = deltanet_conv(qkv, window, taps, threads)
    g, beta = deltanet_gates(mixed, a, b, A, dt_bias, shape.k_heads, shape.k_dim, threads)
    core = deltanet_rule(mixed, g, beta, state, shape.k_heads, threads)
    heads = state.shape[0]
    rows = core.shape[0] * heads
    z = require(z, "z", np.float32, shape=core.shape)
    gated = gated_rms_norm(core.reshape(rows, -1), z.reshape(rows, -1), norm, shape.eps, threads)
    return gated.reshape(core.shape)
