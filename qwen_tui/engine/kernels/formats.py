"""bigdl-llm's low-bit block formats, and a reference dequantizer for each.

Every format stores a row of K weights as K/64 blocks (bigdl-llm's ``ggml_qk_size`` is 64 for
all of them, unlike upstream ggml's 32). Byte layouts, as bigdl-llm 2.5's quantizer writes them
and its CPU kernel reads them (checked by the tests against that kernel):

==========  =====  ==========================================  =========================
format      bytes  layout                                      value of element j
==========  =====  ==========================================  =========================
sym_int4    34     d: f16, qs[32]                              d * (q_j - 8)
asym_int4   36     d: f16, m: f16, qs[32]                      d * q_j + m
sym_int5    42     d: f16, qh: u64, qs[32]                     d * (q_j - 16)
asym_int5   44     d: f16, m: f16, qh: u64, qs[32]             d * q_j + m
sym_int8    68     d: f32, q[64] (int8)                        d * q_j
==========  =====  ==========================================  =========================

For the 4- and 5-bit formats byte i of ``qs`` holds element i in its low nibble and element
i + 32 in its high nibble; for 5 bits, bit j of ``qh`` is element j's fifth (top) bit.

bigdl-llm's own ``ggml_convert_fp32`` is right only for sym_int4: for the other formats it reads
upstream ggml's 32-value layouts and returns garbage, which is why our dequantize + BLAS path
once answered "!!!!!!!!" in sym_int5. ``dequantize`` here is the reference every kernel of ours
is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

QK = 64


@dataclass(frozen=True)
class Format:
    name: str
    qtype: int  # bigdl-llm's ggml_tensor_qtype id
    block_bytes: int
    bits: int
    asym: bool  # d * q + m instead of d * (q - offset)

    @property
    def offset(self) -> int:
        """What is subtracted from the stored unsigned value (symmetric formats)."""
        return 0 if self.asym or self.bits == 8 else 1 << (self.bits - 1)


FORMATS = {
    f.name: f
    for f in (
        Format("sym_int4", 2, 34, 4, False),
        Format("asym_int4", 3, 36, 4, True),
        Format("sym_int5", 6, 42, 5, False),
        Format("asym_int5", 7, 44, 5, True),
        Format("sym_int8", 8, 68, 8, False),
    )
}
BY_QTYPE = {f.qtype: f for f in FORMATS.values()}


def _f16(raw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)[..., 0]


def _as_bytes(data: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).view(np.uint8)
    import torch  # a tensor was given, so torch is loaded already

    return data.detach().contiguous().view(torch.uint8).numpy()


def codes(
    data: torch.Tensor | np.ndarray, fmt: Format, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """bigdl-llm's bytes of a [rows, cols] weight (a tensor or an array) -> each value's
    stored integer code [rows, cols // 64, 64] (int32, unsigned for the 4/5-bit formats, as
    stored), each block's scale d [rows, cols // 64] and, for the asym formats, its minimum m
    (float32)."""
    if cols % QK:
        raise ValueError(f"{fmt.name}: columns must be a multiple of {QK}, not {cols}")
    raw = _as_bytes(data)
    if raw.size != rows * cols // QK * fmt.block_bytes:
        raise ValueError(f"{fmt.name}: {raw.size} bytes is not a [{rows}, {cols}] weight")
    raw = raw.reshape(rows, cols // QK, fmt.block_bytes)
    if fmt.bits == 8:
        d = np.ascontiguousarray(raw[..., :4]).view(np.float32)[..., 0]
        return np.ascontiguousarray(raw[..., 4:]).view(np.int8).astype(np.int32), d, None
    at = 4 if fmt.asym else 2
    values = np.concatenate([raw[..., at + 8 * (fmt.bits == 5) :] & 0x0F, raw[..., -32:] >> 4], -1)
    values = values.astype(np.int32)
    if fmt.bits == 5:
        qh = np.ascontiguousarray(raw[..., at : at + 8]).view(np.uint64)
        top = (qh >> np.arange(QK, dtype=np.uint64)) & np.uint64(1)
        values |= top.astype(np.int32) << 4
    return values, _f16(raw[..., 0:2]), _f16(raw[..., 2:4]) if fmt.asym else None


def dequantize_array(
    data: torch.Tensor | np.ndarray, fmt: Format, rows: int, cols: int
) -> np.ndarray:
    """bigdl-llm's bytes of a [rows, cols] weight -> a float32 [rows, cols] array."""
    values, d, m = codes(data, fmt, rows, cols)
    if m is not None:
        out = values.astype(np.float32) * d[..., None] + m[..., None]
    else:
        out = (values - fmt.offset).astype(np.float32) * d[..., None]
    return np.ascontiguousarray(out, dtype=np.float32).reshape(rows, cols)


def dequantize(data: torch.Tensor | np.ndarray, fmt: Format, rows: int, cols: int) -> torch.Tensor:
    """bigdl-llm's bytes of a [rows, cols] weight -> a float32 [rows, cols] tensor."""
    import torch

    return torch.from_numpy(dequantize_array(data, fmt, rows, cols))
