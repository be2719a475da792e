"""The kernels on numpy arrays, for the engine that runs without torch (``engine/native``):
packed low-bit weights, embedding rows, RMSNorm, the output head, and the read-bandwidth probe.

The numpy twin of ``torch_api.py``: every array is checked by ``arrays.require`` (dtype, shape,
contiguity, writability, alignment, index range) before its address reaches C, and a failed
check raises ``KernelError``. The C functions are the same ones the torch gateway calls, so the
two give the same bits for the same inputs. The float kernels need AVX2
(``kernels.float_kernels()``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import FORMAT_IDS, KernelError, isa_index, library
from .arrays import address, require, require_indices
from .weights import packed_bytes


@dataclass(frozen=True)
class PackedArray:
    """A [rows, cols] low-bit weight regrouped for the kernels (``weights.pack_into``), with
    its bias: the bytes live in memory the caller keeps (an arena slice)."""

    fmt: str
    data: np.ndarray  # uint8, packed_bytes long, at a 64-byte boundary
    rows: int
    cols: int
    bias: np.ndarray | None = None  # float32 [rows]

    def __post_init__(self) -> None:
        size = packed_bytes(self.fmt, self.rows, self.cols)
        require(self.data, "a packed weight", np.uint8, dims=1, size=size, align=64)
        if self.bias is not None:
            require(self.bias, "a bias", np.float32, shape=(self.rows,))

    @property
    def spec(self) -> tuple[int, int, int, int]:
        """(format id, weight address, rows, bias address or 0), as the C side takes it."""
        bias = 0 if self.bias is None else address(self.bias)
        return (FORMAT_IDS[self.fmt], address(self.data), self.rows, bias)


def _rows_out(out: np.ndarray | None, rows: int, cols: int) -> np.ndarray:
    if out is None:
        return np.empty((rows, cols), np.float32)
    return require(out, "out", np.float32, shape=(rows, cols), writable=True)


def dequantize_rows(
    weight: PackedArray, ids: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Rows ``ids`` (int64 [n], each in [0, rows)) of a packed weight as float32 [n, cols]:
    an embedding lookup."""
    ids = require_indices(ids, "ids", weight.rows)
    out = _rows_out(out, ids.size, weight.cols)
    if ids.size:
        library().dequantize_rows(
            FORMAT_IDS[weight.fmt], address(weight.data), weight.rows, weight.cols,
            address(ids), ids.size, address(out),
        )  # fmt: skip
    return out


def rms_norm(
    x: np.ndarray, weight: np.ndarray, eps: float, threads: int, out: np.ndarray | None = None
) -> np.ndarray:
    """``weight * x / sqrt(mean(x^2) + eps)`` for each row of float32 [rows, n] (n a multiple
    of 8); ``out`` may be ``x`` itself."""
    x = require(x, "x", np.float32, dims=2)
    rows, n = x.shape
    weight = require(weight, "weight", np.float32, shape=(n,))
    if n % 8:
        raise KernelError(f"rms_norm: {n} values per row is not a multiple of 8")
    out = _rows_out(out, rows, n)
    if rows:
        library().rms_norm(
            address(x), address(weight), address(out), rows, n, float(eps), max(1, threads)
        )
    return out


def matmul(
    x: np.ndarray, weight: PackedArray, threads: int, out: np.ndarray | None = None
) -> np.ndarray:
    """``x @ W.T + bias`` for float32 [rows, cols] x: float32 [rows, weight.rows]."""
    x = require(x, "x", np.float32, dims=2)
    rows, cols = x.shape
    if cols != weight.cols:
        raise KernelError(f"matmul: x has {cols} columns, the weight reads {weight.cols}")
    out = _rows_out(out, rows, weight.rows)
    if rows:
        fid, ptr, n, bias = weight.spec
        library().matmul(
            isa_index(None), address(x), rows, cols, [(fid, ptr, n, address(out), bias)],
            max(1, threads), 0,
        )  # fmt: skip
    return out


def read_bandwidth(
    threads: int, megabytes: int = 512, rounds: int = 5, buffer: np.ndarray | None = None
) -> float:
    """Bytes per second ``threads`` threads read from memory (``torch_api.read_bandwidth``
    without torch): the best of ``rounds`` passes over a buffer far larger than any cache;
    ``buffer`` (uint8, a multiple of 64 bytes) to read memory the caller allocated."""
    if buffer is None:
        words = np.ones(megabytes << 17, np.int64)
    else:
        require(buffer, "buffer", np.uint8, dims=1)
        if buffer.size % 64 or address(buffer) % 8:
            raise KernelError("the buffer needs a multiple of 64 bytes at an 8-byte boundary")
        words = buffer.view(np.int64)
        words.fill(1)
    library().read_all(address(words), words.size, max(1, threads))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        library().read_all(address(words), words.size, max(1, threads))
        best = min(best, time.perf_counter() - started)
    return words.size * 8 / best
