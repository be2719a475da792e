"""The kernels' torch gateway: every function here takes or returns torch tensors, checks
their dtype, shape and contiguity, and raises ``KernelError`` before a pointer reaches C.

Reached as ``kernels.matmul``, ``kernels.pack``, ... (the package imports this module on first
use, so importing ``qwen_tui.engine.kernels`` alone does not import torch); torch-free code
uses ``kernels.arrays`` and numpy instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from . import FORMAT_IDS, KernelError, isa_index, library, native
from .formats import QK, Format


def _require(t: torch.Tensor, name: str, dtype: torch.dtype, dims: int | None = None) -> None:
    if not isinstance(t, torch.Tensor):
        raise KernelError(f"{name} must be a tensor, not {type(t).__name__}")
    if t.dtype != dtype:
        raise KernelError(f"{name} must be {dtype}, not {t.dtype}")
    if t.device.type != "cpu":
        raise KernelError(f"{name} must be on the CPU")
    if not t.is_contiguous():
        raise KernelError(f"{name} must be contiguous")
    if dims is not None and t.dim() != dims:
        raise KernelError(f"{name} must have {dims} dimensions, not {t.dim()}")


# -- low-bit weights ------------------------------------------------------------------------


@dataclass(frozen=True)
class PackedWeight:
    """A [rows, cols] low-bit weight regrouped for the matmul kernels, with its bias."""

    fmt: Format
    data: torch.Tensor  # uint8, qk_packed_bytes long
    rows: int
    cols: int
    bias: torch.Tensor | None  # float32 [rows]

    @property
    def spec(self) -> tuple[int, int, int, int]:
        """(format id, weight pointer, rows, bias pointer or 0) for ``matmul``."""
        bias = 0 if self.bias is None else self.bias.data_ptr()
        return (FORMAT_IDS[self.fmt.name], self.data.data_ptr(), self.rows, bias)


def pack(
    fmt: Format,
    raw: torch.Tensor,
    rows: int,
    cols: int,
    bias: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> PackedWeight:
    """bigdl-llm's bytes of a [rows, cols] weight -> a PackedWeight, in ``out`` (uint8, exactly
    ``packed_bytes`` long, 64-byte aligned) or a new buffer."""
    mod = native()
    if mod is None:
        raise KernelError("the kernels are not built")
    _require(raw, "weight", torch.uint8)
    if rows <= 0 or cols <= 0 or cols % QK:
        raise KernelError(f"a {rows} x {cols} weight does not fit (columns: a multiple of {QK})")
    if raw.numel() != rows * cols // QK * fmt.block_bytes:
        raise KernelError(f"{raw.numel()} bytes is not a {rows} x {cols} {fmt.name} weight")
    fid = FORMAT_IDS[fmt.name]
    size = mod.packed_bytes(fid, rows, cols)
    if out is None:
        out = torch.empty(size, dtype=torch.uint8)
    _require(out, "out", torch.uint8)
    if out.numel() != size or out.data_ptr() % 64:
        raise KernelError(f"out must be {size} bytes at a 64-byte boundary")
    mod.repack(fid, raw.data_ptr(), out.data_ptr(), rows, cols)
    if bias is not None:
        bias = bias.detach().to(torch.float32).contiguous()
        if bias.shape != (rows,):
            raise KernelError(f"bias must have {rows} values, not {tuple(bias.shape)}")
    return PackedWeight(fmt, out, rows, cols, bias)


def dequantize(weight: PackedWeight) -> torch.Tensor:
    """A packed weight as float32 [rows, cols] (the exact values the kernels multiply)."""
    out = torch.empty(weight.rows, weight.cols)
    library().dequantize(
        FORMAT_IDS[weight.fmt.name], weight.data.data_ptr(), weight.rows, weight.cols,
        out.data_ptr(),
    )  # fmt: skip
    return out


def _rows_of(x: torch.Tensor, cols: int, name: str) -> torch.Tensor:
    if x.dtype != torch.float32 or not x.is_contiguous():
        x = x.float().contiguous()
    if x.dim() < 1 or x.shape[-1] != cols:
        raise KernelError(f"{name} must end in {cols} columns, not {tuple(x.shape)}")
    return x


def matmul(
    x: torch.Tensor,
    weights: list[PackedWeight],
    threads: int,
    *,
    up: torch.Tensor | None = None,
    isa: str | None = None,
) -> list[torch.Tensor]:
    """``x @ W.T + bias`` for each weight (all reading the same x, one parallel pass).

    With ``up``, the input is ``silu(x) * up`` (the gated MLP), formed as it is quantized."""
    if not weights or len(weights) > 4:
        raise KernelError("matmul takes 1 to 4 weights")
    cols = weights[0].cols
    if any(w.cols != cols for w in weights):
        raise KernelError("every weight of one matmul must read the same input width")
    x = _rows_of(x, cols, "x")
    up_ptr = 0
    if up is not None:
        up = _rows_of(up, cols, "up")
        if up.shape != x.shape:
            raise KernelError(f"up {tuple(up.shape)} must match x {tuple(x.shape)}")
        up_ptr = up.data_ptr()
    rows = x.numel() // cols
    lead = x.shape[:-1]
    outs = [torch.empty((*lead, w.rows)) for w in weights]
    if rows == 0:
        return outs
    targets = [
        (fid, ptr, n, out.data_ptr(), bias)
        for (fid, ptr, n, bias), out in zip((w.spec for w in weights), outs, strict=True)
    ]
    library().matmul(isa_index(isa), x.data_ptr(), rows, cols, targets, max(1, threads), up_ptr)
    return outs


def quantize_activations(
    x: torch.Tensor, up: torch.Tensor | None = None, isa: str | None = None
) -> torch.Tensor:
    """The int8 blocks a variant makes of [rows, cols] activations, as raw bytes (tests
    compare variants with it)."""
    mod = library()
    _require(x, "x", torch.float32, 2)
    rows, cols = x.shape
    if cols % QK:
        raise KernelError(f"activations need a multiple of {QK} columns")
    if up is not None:
        _require(up, "up", torch.float32, 2)
        if up.shape != x.shape:
            raise KernelError("up must match x")
    out = torch.empty(rows * cols // QK * mod.block_bytes(), dtype=torch.uint8)
    up_ptr = 0 if up is None else up.data_ptr()
    mod.quantize(isa_index(isa), x.data_ptr(), up_ptr, out.data_ptr(), rows, cols)
    return out


# -- float kernels (AVX2: check ``kernels.float_kernels()``) ----------------------------


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, threads: int) -> torch.Tensor:
    """``weight * x / sqrt(mean(x^2) + eps)`` over the last dimension."""
    n = x.shape[-1]
    _require(x, "x", torch.float32)
    _require(weight, "weight", torch.float32, 1)
    if weight.shape[0] != n or n % 8:
        raise KernelError(f"rms_norm: {n} values per row (a multiple of 8) and as many weights")
    out = torch.empty_like(x)
    rows = x.numel() // n
    if rows:
        library().rms_norm(
            x.data_ptr(), weight.data_ptr(), out.data_ptr(), rows, n, eps, max(1, threads)
        )
    return out


def attend(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, threads: int
) -> torch.Tensor:
    """Causal attention of the last ``rows`` cached positions: [1, rows, heads * dim].

    ``query`` is [1, heads, rows, dim]; ``key``/``value`` are the cache's [1, kv_heads,
    length, dim] views (float32 or float16, rows contiguous, room after them allowed)."""
    if query.dim() != 4 or key.dim() != 4 or query.shape[0] != 1:
        raise KernelError("attend: query [1, heads, rows, dim], cache [1, kv_heads, length, dim]")
    _, heads, rows, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    if (
        key.shape != value.shape
        or key.stride() != value.stride()
        or key.dtype != value.dtype
        or key.dtype not in (torch.float32, torch.float16)
        or key.stride(-1) != 1
        or key.stride(2) != dim
        or key.shape[-1] != dim
        or dim % 16
        or heads % kv_heads
        or rows > length
    ):
        raise KernelError("attend: the cache does not fit the kernel")
    query = query.float().contiguous()
    out = torch.empty(1, rows, heads * dim)
    library().attend(
        query.data_ptr(), key.data_ptr(), value.data_ptr(), out.data_ptr(), heads, kv_heads,
        rows, length - rows, dim, key.stride(1), key.stride(2), dim**-0.5,
        key.dtype == torch.float16, max(1, threads),
    )  # fmt: skip
    return out


def rotary(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, positions: torch.Tensor, threads: int
) -> torch.Tensor:
    """Rotary embedding of x ([1, heads, rows, dim], rows x.stride(2) floats apart, heads dim
    apart) at ``positions``; returns a contiguous [1, heads, rows, dim]."""
    _, heads, rows, dim = x.shape
    if (
        x.shape[0] != 1
        or x.dtype != torch.float32
        or x.stride(-1) != 1
        or x.stride(1) != dim
        or dim % 16
    ):
        raise KernelError("rotary: x must be a float32 [1, heads, rows, dim] view, dim % 16 == 0")
    _require(cos, "cos", torch.float32, 2)
    _require(sin, "sin", torch.float32, 2)
    _require(positions, "positions", torch.int64, 1)
    if cos.shape != sin.shape or cos.shape[1] != dim or positions.numel() != rows:
        raise KernelError("rotary: tables [positions, dim] and one position per row")
    if rows and (int(positions.min()) < 0 or int(positions.max()) >= cos.shape[0]):
        raise KernelError("rotary: a position is outside the tables")
    out = torch.empty(1, heads, rows, dim)
    library().rotary(
        x.data_ptr(), x.stride(2), heads, rows, dim, cos.data_ptr(), sin.data_ptr(),
        positions.data_ptr(), out.data_ptr(), max(1, threads),
    )  # fmt: skip
    return out


def dequantize_rows(weight: PackedWeight, ids: torch.Tensor) -> torch.Tensor:
    """Rows ``ids`` of a packed weight as float32 [*ids.shape, cols] (embedding lookups)."""
    flat = ids.reshape(-1)
    if flat.dtype != torch.int64 or not flat.is_contiguous():
        flat = flat.to(torch.int64).contiguous()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= weight.rows):
        raise KernelError(f"a token id is outside the {weight.rows}-row table")
    out = torch.empty(flat.numel(), weight.cols)
    if flat.numel():
        library().dequantize_rows(
            FORMAT_IDS[weight.fmt.name], weight.data.data_ptr(), weight.rows, weight.cols,
            flat.data_ptr(), flat.numel(), out.data_ptr(),
        )  # fmt: skip
    return out.view(*ids.shape, weight.cols)


def read_all(buffer: torch.Tensor, threads: int) -> int:
    """The XOR of a buffer's 64-bit words, read by ``threads`` threads (``read_bandwidth``)."""
    _require(buffer, "buffer", torch.int64, 1)
    if buffer.numel() % 8:
        raise KernelError("the buffer needs a multiple of 8 words")
    total: int = library().read_all(buffer.data_ptr(), buffer.numel(), max(1, threads))
    return total


def read_bandwidth(
    threads: int, megabytes: int = 512, rounds: int = 5, buffer: torch.Tensor | None = None
) -> float:
    """Bytes per second ``threads`` threads read from memory: the best of ``rounds`` passes
    over a buffer far larger than any cache (the first pass touches its pages); ``buffer``
    (bytes, a multiple of 64) to read memory the caller allocated (on huge pages, say)."""
    if buffer is None:
        buffer = torch.ones(megabytes << 17, dtype=torch.int64)  # 8-byte words
    else:
        buffer = buffer.view(torch.int64)
        buffer.fill_(1)
    read_all(buffer, threads)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        read_all(buffer, threads)
        best = min(best, time.perf_counter() - started)
    return buffer.numel() * 8 / best
