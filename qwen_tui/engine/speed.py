"""Faster prompts: choose bigdl-llm's matmul path for prompt rows by measuring it.

bigdl-llm's int4 CPU kernel does not batch prompt rows: a 512-token prompt
costs about 512 single-row products per projection. Dequantizing the weight
once and calling torch's ``F.linear`` (BLAS) is much faster for many rows.
bigdl-llm takes that path only for sym_int4 on CPUs its name check calls
"server, not Sapphire Rapids" and only from ``BIGDL_LLM_LINEAR_THRESHOLD``
rows. We decide by measuring instead, for every format, on this CPU: at load
time one of the model's own projections is timed both ways for a few row
counts, and prompts with at least that many rows use the faster path.

``QWEN_TUI_PROMPT_PATH`` = ``auto`` (default), ``dequant`` (always from 2
rows) or ``kernel`` (never) overrides the choice.
"""

from __future__ import annotations

import os
import time
from typing import Any

CANDIDATE_ROWS = (8, 32, 128)
_thresholds: dict[int, int | None] = {}  # qtype -> rows from which to dequantize
_installed = False


def _dequant_linear(layer: Any, x: Any) -> Any:
    import torch.nn.functional as F
    from bigdl.llm.transformers import low_bit_linear as lbl

    weight = lbl.ggml_convert_fp32(
        layer.weight.data, layer.weight_shape, layer.weight_length, layer.qtype
    )
    out = F.linear(x, weight)
    if layer.bias is not None:
        out += layer.bias
    return out


def install() -> None:
    """Wrap LowBitLinear.forward once: prompt rows above the threshold go through BLAS."""
    global _installed
    if _installed:
        return
    from bigdl.llm.transformers import low_bit_linear as lbl

    original = lbl.LowBitLinear.forward

    def forward(self: Any, x: Any) -> Any:
        threshold = _thresholds.get(self.qtype)
        if (
            threshold
            and x.device.type == "cpu"
            and x.dim() >= 2
            and x.numel() // x.shape[-1] >= threshold
            and self.mp_group is None
            and not (self.training and x.requires_grad)
        ):
            return _dequant_linear(self, x)
        return original(self, x)

    forward.__wrapped__ = original  # type: ignore[attr-defined]
    lbl.LowBitLinear.forward = forward
    _installed = True


def _timed(fn: Any, *args: Any) -> float:
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - started)
    return best


def measure_threshold(layer: Any) -> int | None:
    """Smallest candidate row count at which dequantize + BLAS beats the int4 kernel."""
    import torch
    from bigdl.llm.transformers import low_bit_linear as lbl

    kernel = getattr(lbl.LowBitLinear.forward, "__wrapped__", lbl.LowBitLinear.forward)
    with torch.inference_mode():
        for rows in CANDIDATE_ROWS:
            x = torch.randn(1, rows, layer.in_len)
            if _timed(_dequant_linear, layer, x) < 0.9 * _timed(kernel, layer, x):
                return rows
    return None


def tune(model: Any) -> dict[str, Any]:
    """Pick the prompt path for the model's formats; return what was chosen (for bench)."""
    from bigdl.llm.transformers.low_bit_linear import LowBitLinear

    install()
    mode = os.environ.get("QWEN_TUI_PROMPT_PATH", "auto")
    layers = [m for m in model.modules() if isinstance(m, LowBitLinear) and not m.is_lm_head]
    chosen: dict[str, Any] = {"mode": mode}
    for qtype in {m.qtype for m in layers}:
        if mode == "kernel":
            _thresholds[qtype] = None
        elif mode == "dequant":
            _thresholds[qtype] = 2
        else:
            sample = max(
                (m for m in layers if m.qtype == qtype), key=lambda m: m.in_len * m.out_len
            )
            _thresholds[qtype] = measure_threshold(sample)
        chosen[f"qtype_{qtype}_rows"] = _thresholds[qtype]
    return chosen
