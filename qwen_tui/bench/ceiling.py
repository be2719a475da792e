"""Decode's compute ceiling: how fast our kernels multiply each format's weights when those
weights are already in cache, beside the read-bandwidth roofline (``command.roofline``).

A decoded token reads every weight once, so it is either memory-bound (the roofline) or
compute-bound: a core that runs the dot products' instructions slower than memory delivers
the bytes (a Zen 3's AVX2 on the 5th-bit unpack and the int8 widening) cannot reach the
roofline whatever the bandwidth. These VMs expose no hardware counters, so the ceiling is
measured directly: one thread, one token's matvec over a weight that fits in L2, repeated;
the time of a call on a weight of one group (what a call costs around its work) subtracted.
The model's ceiling then adds each format's bytes at its own rate and scales by the threads.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np

COLS = 2048  # inputs of the measured weight
L2_BYTES = 256 << 10  # its size: inside every L2 seen (Zen 3: 512 KB)
SECONDS = 0.05  # each timing's length


def format_bytes(model: Any) -> dict[str, int]:
    """What a decoded token reads of each format: every packed weight but an untied
    embedding (a token reads one row of it)."""
    out: dict[str, int] = {}
    for weight in model.weights.packed.values():
        if weight is model.embed and model.embed is not model.head:
            continue
        out[weight.fmt] = out.get(weight.fmt, 0) + weight.data.nbytes
    return out


def _weight(fmt: str, rows: int, cols: int) -> Any:
    from ..engine.kernels.numpy_api import PackedArray
    from ..engine.kernels.weights import packed_bytes, quantize_weight_into
    from ..engine.runtime.pages import huge_array

    values = np.random.default_rng(0).standard_normal((rows, cols), np.float32) * 0.02
    packed = huge_array(packed_bytes(fmt, rows, cols))[0]  # at a 64-byte boundary
    quantize_weight_into(fmt, values, rows, cols, packed, packed=True, threads=1)
    return PackedArray(fmt, packed, rows, cols)


def _per_call(weight: Any, x: np.ndarray) -> float:
    """The fastest of three timings of a call, each ``SECONDS`` long."""
    from ..engine.kernels.numpy_api import matmul

    out = np.empty((1, weight.rows), np.float32)
    best = float("inf")
    for _ in range(3):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < SECONDS:
            for _ in range(20):
                matmul(x, weight, 1, out)
            calls += 20
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def in_cache_rate(fmt: str) -> float:
    """Bytes of ``fmt`` weights one thread multiplies a second, from L2."""
    from ..engine.kernels.weights import packed_bytes

    rows = max(16, L2_BYTES // packed_bytes(fmt, 16, COLS) * 16)
    big, small = _weight(fmt, rows, COLS), _weight(fmt, 16, 64)
    x = np.random.default_rng(1).standard_normal((1, COLS), np.float32)
    work = _per_call(big, x) - _per_call(small, x[:, :64])
    return big.data.nbytes / max(work, 1e-9)


def compute_ceiling(model: Any, threads: int) -> dict:
    """Per format: its bytes a token and the rate in cache; the model's ceiling in tok/s."""
    from ..engine.runtime.torch_thread import torch_thread

    formats = format_bytes(model)
    # on the torch thread, whose OpenMP threads the kernels use: no second pool of threads
    rates = {fmt: float(torch_thread.run(partial(in_cache_rate, fmt))) for fmt in formats}
    seconds = sum(formats[f] / rates[f] for f in formats) / max(threads, 1)
    return {
        "formats": {
            f: {"bytes": formats[f], "gb_s_per_thread": round(rates[f] / 1e9, 2)} for f in formats
        },  # fmt: skip
        "ceiling_tok_s": round(1 / seconds, 1) if seconds > 0 else None,
    }
