"""Qwen2's and Qwen-1's MLP with both input projections in one kernel call.

The gate and up projections read the same input; ``matmul.project`` quantizes it
once and computes both in one parallel pass (a decoded token otherwise pays
the call and thread start-up twice per layer). Same arithmetic as bigdl-llm's
CPU path: ``down(act(gate(x)) * up(x))``; Qwen-1 names them ``w2``, ``w1``
and ``c_proj`` and uses SiLU. With SiLU (both families) the product goes to the
down projection's kernel call as its two factors (``matmul.gated``): the kernel forms
it while quantizing, instead of torch writing and reading it again.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from .. import matmul
from . import forwards

# class name -> (gate, up, down) attribute names
_PROJECTIONS = {
    "Qwen2MLP": ("gate_proj", "up_proj", "down_proj"),
    "QWenMLP": ("w2", "w1", "c_proj"),
}


def install(model: Any) -> int:
    """Replace ``forward`` of every Qwen2/Qwen-1 MLP in the model; return how many."""

    def ours(module: Any) -> Any:
        names = _PROJECTIONS.get(type(module).__name__)
        if names is None:
            return None
        gate, up, down = (getattr(module, name) for name in names)
        return functools.partial(_forward, gate, up, down, getattr(module, "act_fn", F.silu))

    return forwards.replace(model, ours)


def _forward(gate: Any, up: Any, down: Any, act: Any, x: Any) -> Any:
    gated, upped = matmul.project([gate, up], x)
    if _is_silu(act):
        return matmul.gated(down, gated, upped)
    return down(act(gated).mul_(upped))


def _is_silu(act: Any) -> bool:
    return act is F.silu or type(act) is torch.nn.SiLU
