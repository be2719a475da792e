"""Qwen2's and Qwen-1's MLP with both input projections in one q4 call.

The gate and up projections read the same input; ``speed.project`` quantizes it
once and computes both in one parallel pass (a decoded token otherwise pays
the call and thread start-up twice per layer). Same arithmetic as bigdl-llm's
CPU path: ``down(act(gate(x)) * up(x))``; Qwen-1 names them ``w2``, ``w1``
and ``c_proj`` and uses SiLU.
"""

from __future__ import annotations

import functools
from typing import Any

from . import speed

# class name -> (gate, up, down) attribute names
_PROJECTIONS = {
    "Qwen2MLP": ("gate_proj", "up_proj", "down_proj"),
    "QWenMLP": ("w2", "w1", "c_proj"),
}


def install(model: Any) -> int:
    """Replace ``forward`` of every Qwen2/Qwen-1 MLP in the model; return how many."""
    import torch.nn.functional as F

    wrapped = 0
    for module in model.modules():
        names = _PROJECTIONS.get(type(module).__name__)
        if names is None or hasattr(module, "qwen_tui_forward"):
            continue
        gate, up, down = (getattr(module, name) for name in names)
        act = getattr(module, "act_fn", F.silu)
        module.qwen_tui_forward = module.forward  # bigdl-llm's, bound to this module at load
        module.forward = functools.partial(_forward, gate, up, down, act)
        wrapped += 1
    return wrapped


def _forward(gate: Any, up: Any, down: Any, act: Any, x: Any) -> Any:
    gated, upped = speed.project([gate, up], x)
    return down(act(gated).mul_(upped))
