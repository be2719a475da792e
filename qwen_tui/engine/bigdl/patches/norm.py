"""RMSNorm (Qwen2's ``Qwen2RMSNorm``, Qwen-1's ``RMSNorm``) in one kernel call.

bigdl-llm's CPU forward takes seven torch operations per norm (to, pow, mean,
add, rsqrt, mul, mul); a decoded token passes 49 norms, so their dispatch alone
cost about 2 ms per token. ``kernels.rms_norm`` computes the same products in
one pass over each row; anything it does not cover (other dtypes, a missing
kernel) goes to bigdl-llm's forward.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from ... import kernels
from . import forwards

_EPS_NAMES = {"Qwen2RMSNorm": "variance_epsilon", "RMSNorm": "eps"}  # class -> its epsilon


def install(model: Any) -> int:
    """Replace ``forward`` of every RMSNorm in the model; return how many."""
    if not kernels.float_kernels():
        return 0

    def ours(module: Any) -> Any:
        eps_name = _EPS_NAMES.get(type(module).__name__)
        if eps_name is None:
            return None
        return functools.partial(_forward, module, float(getattr(module, eps_name)))

    return forwards.replace(model, ours)


def _forward(module: Any, eps: float, x: Any) -> Any:
    weight = module.weight
    n = x.shape[-1]
    fits = x.dtype == weight.dtype == torch.float32 and weight.shape == (n,) and n % 8 == 0
    if not fits or x.requires_grad or x.device.type != "cpu":
        return module.qwen_tui_forward(x)
    return kernels.rms_norm(x.contiguous(), weight, eps, torch.get_num_threads())
