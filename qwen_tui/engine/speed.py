"""Matmul paths for bigdl-llm's low-bit layers, chosen by measuring on this CPU.

An int4 projection can be computed three ways:

- ``bigdl``: bigdl-llm's own CPU kernel. It multiplies one activation row at
  a time (a 512-token prompt costs 512 single-row products) and reaches only
  about 5 GB/s of weights on two AVX2 cores.
- ``q4``: our AVX2 kernel (``q4matmul.c``, built at install time) for sym_int4:
  the same stored bytes, activations in int8 blocks of 64 as ggml does, tiles
  of rows so a weight block is unpacked once for several rows. Results do not
  depend on how many rows are multiplied together.
- ``dequant``: dequantize the weight to float32 once, then BLAS (``F.linear``).
  bigdl-llm takes this path only on CPUs its name check calls "server, not
  Sapphire Rapids"; we decide by measuring instead.

At load one of the model's largest projections is timed: the faster of
``bigdl``/``q4`` for one row becomes the format's kernel, and ``dequant`` is
used from the smallest row count (8, 32, 128) at which it beats that kernel.

``QWEN_TUI_MATMUL`` = ``auto`` (default) | ``bigdl`` | ``q4`` | ``dequant``
forces a path (``dequant`` from 2 rows) for comparisons.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Any

MODES = ("auto", "bigdl", "q4", "dequant")
CANDIDATE_ROWS = (8, 32, 128)
SYM_INT4 = 2  # bigdl-llm's ggml qtype id of sym_int4


@dataclass(frozen=True)
class Plan:
    kernel: str  # "bigdl" or "q4", for rows below dequant_from
    dequant_from: int | None = None


_plans: dict[int, Plan] = {}  # qtype -> plan
_installed = False


@functools.cache
def _q4_module() -> Any:
    try:
        from . import _q4matmul
    except ImportError:  # built without a C compiler, or not an x86 CPU
        return None
    return _q4matmul if _q4matmul.supported() else None


def q4_fits(layer: Any) -> bool:
    return (
        layer.qtype == SYM_INT4
        and layer.in_len % 64 == 0
        and layer.weight.data.numel() == layer.out_len * layer.in_len // 64 * 34
        and _q4_module() is not None
    )


def _q4_linear(layer: Any, x: Any) -> Any:
    import torch

    rows = x.numel() // layer.in_len
    x_2d = x.reshape(rows, layer.in_len)
    if x_2d.dtype != torch.float32 or not x_2d.is_contiguous():
        x_2d = x_2d.float().contiguous()
    out = torch.empty(rows, layer.out_len)
    _q4_module().matmul(
        layer.weight.data_ptr(),
        layer.out_len,
        layer.in_len,
        x_2d.data_ptr(),
        rows,
        out.data_ptr(),
        torch.get_num_threads(),
    )
    out = out.view(*x.shape[:-1], layer.out_len)
    if layer.bias is not None:
        out += layer.bias
    return out


def _dequant_linear(layer: Any, x: Any) -> Any:
    import torch.nn.functional as F
    from bigdl.llm.transformers import low_bit_linear as lbl

    weight = lbl.ggml_convert_fp32(
        layer.weight.data, layer.weight_shape, layer.weight_length, layer.qtype
    )
    out = F.linear(x.float(), weight)
    if layer.bias is not None:
        out += layer.bias
    return out


def install() -> None:
    """Wrap LowBitLinear.forward once so CPU inference follows the format's plan."""
    global _installed
    if _installed:
        return
    from bigdl.llm.transformers import low_bit_linear as lbl

    original = lbl.LowBitLinear.forward

    def forward(self: Any, x: Any) -> Any:
        plan = _plans.get(self.qtype)
        if (
            plan is None
            or x.device.type != "cpu"
            or x.dim() < 2
            or 0 in x.shape
            or self.mp_group is not None
            or (self.training and x.requires_grad)
        ):
            return original(self, x)
        if self.optimize_lm_head:
            x = lbl.reshape_lm_head_input(x)
        rows = x.numel() // x.shape[-1]
        if plan.dequant_from and rows >= plan.dequant_from:
            return _dequant_linear(self, x)
        if plan.kernel == "q4":
            return _q4_linear(self, x)
        return original(self, x)

    forward.__wrapped__ = original  # type: ignore[attr-defined]
    lbl.LowBitLinear.forward = forward
    _installed = True


def _bigdl_linear(layer: Any, x: Any) -> Any:
    from bigdl.llm.transformers import low_bit_linear as lbl

    kernel = getattr(lbl.LowBitLinear.forward, "__wrapped__", lbl.LowBitLinear.forward)
    return kernel(layer, x)


KERNELS = {"bigdl": _bigdl_linear, "q4": _q4_linear}


def _timed(fn: Any, *args: Any) -> float:
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - started)
    return best


def fastest_kernel(layer: Any) -> str:
    """The faster of bigdl-llm's kernel and ours for one row (decode)."""
    import torch

    if not q4_fits(layer):
        return "bigdl"
    x = torch.randn(1, 1, layer.in_len)
    with torch.inference_mode():
        _q4_linear(layer, x)  # first call pays for the thread pool
        times = {name: _timed(fn, layer, x) for name, fn in KERNELS.items()}
    return min(times, key=times.__getitem__)


def measure_threshold(layer: Any, kernel: str = "bigdl") -> int | None:
    """Smallest candidate row count at which dequantize + BLAS beats the kernel."""
    import torch

    with torch.inference_mode():
        for rows in CANDIDATE_ROWS:
            x = torch.randn(1, rows, layer.in_len)
            if _timed(_dequant_linear, layer, x) < 0.9 * _timed(KERNELS[kernel], layer, x):
                return rows
    return None


def plan_for(layer: Any, mode: str) -> Plan:
    q4 = "q4" if q4_fits(layer) else "bigdl"
    if mode == "bigdl":
        return Plan("bigdl")
    if mode == "q4":
        return Plan(q4)
    if mode == "dequant":
        return Plan(q4, dequant_from=2)
    kernel = fastest_kernel(layer)
    return Plan(kernel, measure_threshold(layer, kernel))


def tune(model: Any) -> dict[str, Any]:
    """Choose every format's plan; return what was chosen (bench shows it)."""
    from bigdl.llm.transformers.low_bit_linear import LowBitLinear

    install()
    mode = os.environ.get("QWEN_TUI_MATMUL", "auto")
    mode = mode if mode in MODES else "auto"
    layers = [m for m in model.modules() if isinstance(m, LowBitLinear) and not m.is_lm_head]
    heads = [m for m in model.modules() if isinstance(m, LowBitLinear) and m.is_lm_head]
    chosen: dict[str, Any] = {"mode": mode}
    for qtype in {m.qtype for m in layers + heads}:
        same = [m for m in layers if m.qtype == qtype] or [m for m in heads if m.qtype == qtype]
        sample = max(same, key=lambda m: m.in_len * m.out_len)
        plan = _plans[qtype] = plan_for(sample, mode)
        chosen[f"qtype_{qtype}"] = {"kernel": plan.kernel, "dequant_from": plan.dequant_from}
    return chosen
