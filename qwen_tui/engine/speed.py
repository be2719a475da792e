"""Matmul paths for bigdl-llm's low-bit layers, chosen by measuring on this CPU.

An int4 projection can be computed three ways:

- ``bigdl``: bigdl-llm's own CPU kernel. It multiplies one activation row at
  a time (a 512-token prompt costs 512 single-row products) and reaches only
  about 5 GB/s of weights on two AVX2 cores.
- ``q4``: our AVX2 kernel (``q4matmul.c``, built at install time) for sym_int4.
  The weights are regrouped in place at load (same bytes, same size) so one
  register holds 8 output rows; activations are int8 in blocks of 64 as in
  ggml. Results do not depend on how many rows are multiplied together.
- ``dequant``: dequantize the weight to float32 once, then BLAS (``F.linear``).
  bigdl-llm takes this path only on CPUs its name check calls "server, not
  Sapphire Rapids"; we decide by measuring instead.

At load one of the model's largest projections is timed: the faster of
``bigdl``/``q4`` for one row becomes the format's kernel, and ``dequant`` is
used from the smallest row count (8, 32, 128) at which it beats that kernel.
Layers are regrouped only when ``q4`` was chosen; a regrouped layer never
reaches bigdl-llm's own kernel again.

``QWEN_TUI_MATMUL`` = ``auto`` (default) | ``bigdl`` | ``q4`` | ``dequant``
forces a path (``dequant`` from 2 rows) for comparisons.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODES = ("auto", "bigdl", "q4", "dequant")
CANDIDATE_ROWS = (8, 32, 128)
SYM_INT4 = 2  # bigdl-llm's ggml qtype id of sym_int4
REGROUPED = "qwen_tui_q4"  # attribute set on layers whose bytes were regrouped


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
        and layer.out_len % 8 == 0
        and layer.weight.numel() == layer.out_len * layer.in_len // 64 * 34
        and _q4_module() is not None
    )


def regroup(layer: Any) -> None:
    """Rewrite a layer's int4 bytes for the q4 kernel (once; same size)."""
    if not getattr(layer, REGROUPED, False):
        _q4_module().repack(layer.weight.data_ptr(), layer.out_len, layer.in_len)
        setattr(layer, REGROUPED, True)


# -- the three ways, on a weight tensor --------------------------------------


def _q4_matmul(weight: Any, out_len: int, x: Any, bias: Any = None) -> Any:
    bias = None if bias is None else bias.float().contiguous()
    spec = (weight.data_ptr(), out_len, 0 if bias is None else bias.data_ptr())
    return _q4_matmuls([spec], x)[0]


def _spec(layer: Any) -> tuple[int, int, int]:
    """(weight pointer, rows, float32 bias pointer or 0) of a regrouped layer, worked out
    once: a decoded token makes about 100 kernel calls, and the Python around each call
    costs more than a small projection itself."""
    spec = layer.__dict__.get("qwen_tui_spec")
    if spec is None:
        bias = None if layer.bias is None else layer.bias.detach().float().contiguous()
        spec = (layer.weight.data_ptr(), layer.out_len, 0 if bias is None else bias.data_ptr())
        layer.qwen_tui_bias = bias  # keeps a float32 copy alive (the bias itself if it is one)
        layer.qwen_tui_spec = spec
    return spec


def _q4_matmuls(specs: list[tuple[int, int, int]], x: Any, up: Any = None) -> list[Any]:
    """x @ W.T + bias for each (weight pointer, rows, bias pointer or 0): x is quantized once,
    one parallel pass. With ``up`` the input is silu(x) * up, formed as it is quantized."""
    import torch

    x = _float_rows(x)
    up_ptr = 0 if up is None else _float_rows(up).data_ptr()
    lead = x.shape[:-1]
    outs = [torch.empty((*lead, n)) for _, n, _ in specs]
    targets = [(w, n, out.data_ptr(), b) for (w, n, b), out in zip(specs, outs, strict=True)]
    rows = x.numel() // x.shape[-1]
    _q4_module().matmul(x.data_ptr(), rows, x.shape[-1], targets, torch.get_num_threads(), up_ptr)
    return outs


def _float_rows(x: Any) -> Any:
    import torch

    return x if x.dtype == torch.float32 and x.is_contiguous() else x.float().contiguous()


def project(layers: list[Any], x: Any) -> list[Any]:
    """Each layer applied to the same input: one q4 call when all of them take that path."""
    rows = _rows(x)
    if all(_takes_q4(layer, rows) for layer in layers):
        return _q4_matmuls([_spec(layer) for layer in layers], x)
    return [layer(x) for layer in layers]


def gated(layer: Any, gate: Any, up: Any) -> Any:
    """``layer(silu(gate) * up)``, the gated MLP's last projection: on the q4 path the
    product is formed while the kernel quantizes its input and never stored."""
    import torch.nn.functional as F

    if gate.shape == up.shape and _takes_q4(layer, _rows(gate)):
        return _q4_matmuls([_spec(layer)], gate, up=up)[0]
    return layer(F.silu(gate).mul_(up))


def _rows(x: Any) -> int:
    return x.numel() // x.shape[-1] if x.dim() >= 2 and x.shape[-1] else 0


def _takes_q4(layer: Any, rows: int) -> bool:
    regrouped = getattr(layer, REGROUPED, False) and not layer.optimize_lm_head
    return rows > 0 and regrouped and not _dequantizes(_plans.get(layer.qtype), rows)


def _dequantizes(plan: Plan | None, rows: int) -> bool:
    """Whether a plan sends ``rows`` activation rows to dequantize + BLAS."""
    return plan is not None and plan.dequant_from is not None and rows >= plan.dequant_from


def _q4_dequant_matmul(weight: Any, out_len: int, x: Any) -> Any:
    import torch
    import torch.nn.functional as F

    dense = torch.empty(out_len, x.shape[-1])
    _q4_module().dequantize(weight.data_ptr(), out_len, x.shape[-1], dense.data_ptr())
    return F.linear(x.float(), dense)


def _bigdl_dequant_matmul(layer: Any, x: Any) -> Any:
    import torch.nn.functional as F
    from bigdl.llm.transformers import low_bit_linear as lbl

    dense = lbl.ggml_convert_fp32(
        layer.weight.data, layer.weight_shape, layer.weight_length, layer.qtype
    )
    return F.linear(x.float(), dense)


def _bigdl_kernel(layer: Any, x: Any) -> Any:
    from bigdl.llm.transformers import low_bit_linear as lbl

    kernel = getattr(lbl.LowBitLinear.forward, "__wrapped__", lbl.LowBitLinear.forward)
    return kernel(layer, x)


def _with_bias(layer: Any, out: Any) -> Any:
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
        regrouped = getattr(self, REGROUPED, False)
        plan = _plans.get(self.qtype)
        if plan is None or x.dim() < 2 or 0 in x.shape:
            if regrouped and 0 not in x.shape:
                return _q4_matmuls([_spec(self)], x)[0]
            return original(self, x)
        if self.optimize_lm_head:
            x = lbl.reshape_lm_head_input(x)
        rows = x.numel() // x.shape[-1]
        dequant = _dequantizes(plan, rows)
        if regrouped and not dequant:
            return _q4_matmuls([_spec(self)], x)[0]
        if regrouped:
            return _with_bias(self, _q4_dequant_matmul(self.weight, self.out_len, x))
        if dequant:
            return _with_bias(self, _bigdl_dequant_matmul(self, x))
        return original(self, x)

    forward.__wrapped__ = original  # type: ignore[attr-defined]
    lbl.LowBitLinear.forward = forward
    _installed = True


# -- measuring ---------------------------------------------------------------


def _timed(fn: Callable[[Any], Any], x: Any) -> float:
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - started)
    return best


def _candidates(layer: Any) -> dict[str, Callable[[Any], Any]]:
    """The ways to compute the layer, on a regrouped copy for ours (the layer is untouched)."""
    ways: dict[str, Callable[[Any], Any]] = {
        "bigdl": lambda x: _bigdl_kernel(layer, x),
        "bigdl+dequant": lambda x: _bigdl_dequant_matmul(layer, x),
    }
    if q4_fits(layer):
        copy = layer.weight.data.clone()
        _q4_module().repack(copy.data_ptr(), layer.out_len, layer.in_len)
        ways["q4"] = lambda x: _q4_matmul(copy, layer.out_len, x)
        ways["q4+dequant"] = lambda x: _q4_dequant_matmul(copy, layer.out_len, x)
    return ways


def measure_plan(layer: Any) -> Plan:
    """The faster kernel for one row, and from how many rows dequantize + BLAS wins."""
    import torch

    ways = _candidates(layer)
    kernels = [k for k in ("bigdl", "q4") if k in ways]
    with torch.inference_mode():
        one_row = torch.randn(1, 1, layer.in_len)
        for name in kernels:
            ways[name](one_row)  # first call pays for the thread pool
        kernel = min(kernels, key=lambda k: _timed(ways[k], one_row))
        for rows in CANDIDATE_ROWS:
            x = torch.randn(1, rows, layer.in_len)
            if _timed(ways[f"{kernel}+dequant"], x) < 0.9 * _timed(ways[kernel], x):
                return Plan(kernel, rows)
    return Plan(kernel)


def plan_for(layer: Any, mode: str) -> Plan:
    q4 = "q4" if q4_fits(layer) else "bigdl"
    if mode == "bigdl":
        return Plan("bigdl")
    if mode == "q4":
        return Plan(q4)
    if mode == "dequant":
        return Plan(q4, dequant_from=2)
    return measure_plan(layer)


def tune(model: Any) -> dict[str, Any]:
    """Choose every format's plan and regroup the layers q4 will run; return the choice."""
    from bigdl.llm.transformers.low_bit_linear import LowBitLinear

    install()
    mode = os.environ.get("QWEN_TUI_MATMUL", "auto")
    mode = mode if mode in MODES else "auto"
    layers = [m for m in model.modules() if isinstance(m, LowBitLinear)]
    chosen: dict[str, Any] = {"mode": mode}
    head = model.get_output_embeddings()
    for qtype in {m.qtype for m in layers}:
        same = [m for m in layers if m.qtype == qtype]
        body = [m for m in same if m is not head] or same
        sample = max([m for m in body if q4_fits(m)] or body, key=lambda m: m.in_len * m.out_len)
        plan = _plans[qtype] = plan_for(sample, mode)
        if plan.kernel == "q4":
            for layer in same:
                if q4_fits(layer):
                    regroup(layer)
        chosen[f"qtype_{qtype}"] = {"kernel": plan.kernel, "dequant_from": plan.dequant_from}
    return chosen
