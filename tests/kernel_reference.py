"""An independent statement, in numpy, of what our low-bit matmul kernels compute.

Activations are cut into blocks of 64 and quantized to int8 (``d = max|x| / 127``,
``q = rint(x · 127 / max|x|)``); each output is a sum over blocks of the exact integer dot
product of those codes with the weight's stored codes, scaled by the two blocks' scales and
accumulated with one rounding per step (a fused multiply-add), as qk.h documents::

    sym:   acc = fma(dot - offset · sum(q), d_w · d_x, acc)
    asym:  acc = fma(dot, d_w · d_x, acc);  acc = fma(m_w, d_x · sum(q), acc)

The weight's codes come from bigdl-llm's bytes (``formats.codes``, itself checked against
bigdl-llm's own kernel). No C code is involved, so every variant, ``ref`` included, is checked
against something other than itself.
"""

from __future__ import annotations

import numpy as np

from qwen_tui.engine.kernels.formats import QK, Format, codes

F32 = np.float32


def fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a · b + c rounded once to float32: the product of two float32 values is exact in the
    64-bit significand of long double, and so, in all but vanishingly rare cases, is the sum
    before its one rounding to float32."""
    exact = np.asarray(a, np.longdouble) * np.asarray(b, np.longdouble) + np.asarray(
        c, np.longdouble
    )
    return exact.astype(F32)


def quantize_blocks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[rows, cols] float32 -> (codes int8 [rows, blocks, 64], scales d float32 [rows, blocks],
    code sums int32 [rows, blocks])."""
    rows, cols = x.shape
    v = x.astype(F32).reshape(rows, cols // QK, QK)
    max_abs = np.abs(v).max(-1)
    with np.errstate(divide="ignore"):
        inverse = np.where(max_abs != 0, F32(127) / max_abs, F32(0)).astype(F32)
    q = np.rint(v * inverse[..., None]).astype(np.int8)
    return q, (max_abs / F32(127)).astype(F32), q.astype(np.int32).sum(-1)


def matmul(
    q: np.ndarray,
    d: np.ndarray,
    sums: np.ndarray,
    weight_data,
    fmt: Format,
    out_features: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """[rows, out_features] from quantized activations and bigdl-llm's weight bytes."""
    rows, blocks, _ = q.shape
    values, dw, m = codes(weight_data, fmt, out_features, blocks * QK)
    dots = np.einsum("rbj,obj->rob", q.astype(np.int64), values.astype(np.int64))
    acc = np.zeros((rows, out_features), F32)
    for b in range(blocks):
        scale = (dw[None, :, b] * d[:, None, b]).astype(F32)
        if m is None:
            acc = fma((dots[:, :, b] - fmt.offset * sums[:, None, b]).astype(F32), scale, acc)
        else:
            acc = fma(dots[:, :, b].astype(F32), scale, acc)
            acc = fma(m[None, :, b], (d[:, b] * sums[:, b].astype(F32)).astype(F32)[:, None], acc)
    return acc if bias is None else (acc + bias.astype(F32)).astype(F32)


def parse_blocks(
    raw: np.ndarray, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernels' own activation blocks (``kernels.quantize_activations``: int8 q[64], float
    d, float s, int32 sum, int16 half[2]) as (codes, scales, sums)."""
    layout = np.dtype(
        [("q", np.int8, QK), ("d", F32), ("s", F32), ("sum", np.int32), ("half", np.int16, 2)]
    )
    blocks = np.frombuffer(raw.tobytes(), layout).reshape(rows, cols // QK)
    return blocks["q"], blocks["d"], blocks["sum"]
