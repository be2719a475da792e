"""Our weight quantizer (``csrc/quantize_w.c``): float weights -> low-bit bytes, numpy only.

It writes exactly the bytes bigdl-llm 2.5's ``ggml_convert_qtype`` writes for the same float32
values on this CPU (the tests hold it to them). bigdl-llm rounds in one of two ways: on an
Intel CPU with AVX2 it runs a build that fuses ``x * id + 8.5`` into one multiply-add, on any
other CPU (AMD's included) its AVX build, which rounds the product first, so that a value whose
``x / d`` is (nearly) a tie can land on another integer. ``fused=None`` rounds as bigdl-llm
does here (``bigdl_fuses``); True or False picks one way.

The bytes come in bigdl-llm's row-major blocks (``packed=False``: what ``model.safetensors``
holds) or already regrouped for our kernels (``packed=True``: what ``kernels.pack`` makes of
those bytes). The source is read as it is, float32, float16 or bfloat16 (a ``uint16`` array
with ``src_dtype="bf16"``), one block of 64 values widened at a time, so a 16-bit tensor is
never copied at float32 width; a read-only ``np.memmap`` of a file works. This module does not
import torch.
"""

from __future__ import annotations

import numpy as np

from . import FORMAT_IDS, KernelError, library
from .arrays import address, require
from .formats import FORMATS, QK, Format

# src_dtype -> (the C id, the numpy dtype that holds it)
SOURCE_DTYPES: dict[str, tuple[int, type[np.generic]]] = {
    "f32": (0, np.float32),
    "f16": (1, np.float16),
    "bf16": (2, np.uint16),
}


def _format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise KernelError(f"{fmt!r} is not a weight format; use one of {', '.join(FORMATS)}.")
    return FORMATS[fmt]


def _check_shape(rows: int, cols: int) -> None:
    if rows <= 0 or cols <= 0 or cols % QK:
        raise KernelError(
            f"a {rows} x {cols} weight cannot be quantized: it needs rows and a width that is "
            f"a positive multiple of {QK}."
        )


def bigdl_bytes(fmt: str, rows: int, cols: int) -> int:
    """The size of a [rows, cols] weight in bigdl-llm's blocks."""
    _check_shape(rows, cols)
    return rows * (cols // QK) * _format(fmt).block_bytes


def packed_bytes(fmt: str, rows: int, cols: int) -> int:
    """The size of a [rows, cols] weight regrouped for our kernels (16-row groups)."""
    _format(fmt)
    _check_shape(rows, cols)
    return int(library().packed_bytes(FORMAT_IDS[fmt], rows, cols))


def bigdl_fuses() -> bool:
    """Whether bigdl-llm quantizes with a fused multiply-add on this CPU (its libllama-api.so
    runs an FMA build on Intel CPUs with AVX2, its AVX build elsewhere)."""
    return bool(library().bigdl_fuses())


def _source_id(src: np.ndarray, rows: int, cols: int, src_dtype: str | None) -> int:
    if not isinstance(src, np.ndarray):
        raise KernelError(
            f"the source must be a numpy array, not {type(src).__name__} "
            "(np.frombuffer or np.memmap wraps a buffer or a file without copying it)."
        )
    if src_dtype is None:
        found = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16"}.get(src.dtype)
        if found is None:
            hint = (
                " (bfloat16 held as uint16: say src_dtype='bf16')" if src.dtype == np.uint16 else ""
            )
            raise KernelError(
                f"a {src.dtype} source cannot be quantized{hint}; give float32, float16 or "
                "bfloat16 (float64: astype(np.float32) first)."
            )
        src_dtype = found
    if src_dtype not in SOURCE_DTYPES:
        raise KernelError(f"src_dtype {src_dtype!r} is not one of {', '.join(SOURCE_DTYPES)}.")
    dtype_id, holder = SOURCE_DTYPES[src_dtype]
    if src.dtype != np.dtype(holder):
        raise KernelError(
            f"{src_dtype} values come in a {np.dtype(holder)} array, not {src.dtype}."
        )
    if not src.flags.c_contiguous:
        raise KernelError(
            "the source must be one contiguous run of values (np.ascontiguousarray makes one)."
        )
    if src.size != rows * cols:
        raise KernelError(f"the source holds {src.size} values, not {rows} x {cols}.")
    return dtype_id


def quantize_weight_into(
    fmt: str,
    src: np.ndarray,
    rows: int,
    cols: int,
    out: np.ndarray,
    *,
    packed: bool,
    threads: int,
    src_dtype: str | None = None,
    fused: bool | None = None,
) -> int:
    """Quantize ``src`` (rows x cols values) into the first ``packed_bytes`` (or
    ``bigdl_bytes``) bytes of ``out`` (uint8, contiguous, writable: a buffer reused from one
    tensor to the next); returns how many source values were not finite (NaN or ±inf), which
    are quantized as bigdl-llm quantizes them: a caller that refuses them checks this.
    ``fused``: None rounds as bigdl-llm does on this CPU (module docstring)."""
    _format(fmt)
    _check_shape(rows, cols)
    dtype_id = _source_id(src, rows, cols, src_dtype)
    size = packed_bytes(fmt, rows, cols) if packed else bigdl_bytes(fmt, rows, cols)
    if (
        not isinstance(out, np.ndarray)
        or out.dtype != np.uint8
        or out.ndim != 1
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise KernelError("out must be a writable, contiguous, one-dimensional uint8 array.")
    if out.size < size:
        raise KernelError(f"out holds {out.size} bytes; this weight needs {size}.")
    if threads < 1:
        raise KernelError(f"threads must be 1 or more, not {threads}.")
    if fused is None:
        fused = bigdl_fuses()
    bad: int = library().quantize_weight(
        FORMAT_IDS[fmt], src, dtype_id, rows, cols, out[:size], packed, fused, threads
    )
    return bad


def quantize_weight(
    fmt: str,
    src: np.ndarray,
    rows: int,
    cols: int,
    *,
    packed: bool,
    threads: int,
    src_dtype: str | None = None,
    fused: bool | None = None,
) -> np.ndarray:
    """``src`` (rows x cols values) -> its bytes in ``fmt``, in a new uint8 array
    (``quantize_weight_into`` also says how many values were not finite)."""
    size = packed_bytes(fmt, rows, cols) if packed else bigdl_bytes(fmt, rows, cols)
    out = np.empty(size, np.uint8)
    quantize_weight_into(
        fmt, src, rows, cols, out, packed=packed, threads=threads, src_dtype=src_dtype,
        fused=fused,
    )  # fmt: skip
    return out


def unpack(fmt: str, packed: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Packed groups (``quantize_weight(..., packed=True)`` or ``kernels.pack``) -> bigdl-llm's
    row-major blocks again: the exact inverse of the regrouping."""
    size = packed_bytes(fmt, rows, cols)
    if not isinstance(packed, np.ndarray) or packed.dtype != np.uint8:
        raise KernelError("the packed weight must be a uint8 numpy array.")
    if not packed.flags.c_contiguous or packed.size != size:
        raise KernelError(
            f"the packed weight must be {size} contiguous bytes for {rows} x {cols} {fmt}, "
            f"not {packed.size}."
        )
    out = np.empty(bigdl_bytes(fmt, rows, cols), np.uint8)
    library().unpack(FORMAT_IDS[fmt], packed.reshape(-1), out, rows, cols)
    return out


GROUP = 16  # rows the kernels' layout interleaves (csrc/qk.h): a packed weight is whole groups


def pack_into(
    fmt: str, raw: np.ndarray, rows: int, cols: int, out: np.ndarray, first_row: int = 0
) -> np.ndarray:
    """bigdl-llm's row-major blocks of a [rows, cols] weight (``raw``, what
    ``model.safetensors`` holds; a read-only map of the file works) regrouped for our kernels
    into ``out``: exactly ``packed_bytes`` writable bytes at a 64-byte boundary (a slice of an
    arena, say). ``raw`` may hold only the rows from ``first_row`` (a multiple of 16) on: they
    land where the whole weight's would, so a large weight is packed a few rows at a time.
    Returns ``out``."""
    size = packed_bytes(fmt, rows, cols)
    out = require(out, "out", np.uint8, dims=1, size=size, writable=True, align=64)
    if first_row < 0 or first_row % GROUP or first_row >= rows:
        raise KernelError(f"first_row {first_row} is not a multiple of {GROUP} inside {rows} rows")
    count = raw.size // bigdl_bytes(fmt, 1, cols) if isinstance(raw, np.ndarray) else 0
    count = min(max(count, 1), rows - first_row)
    raw = require(raw, "the weight's bytes", np.uint8, dims=1, size=bigdl_bytes(fmt, count, cols))
    at = first_row // GROUP * packed_bytes(fmt, GROUP, cols)
    library().repack(FORMAT_IDS[fmt], address(raw), address(out) + at, count, cols)
    return out
