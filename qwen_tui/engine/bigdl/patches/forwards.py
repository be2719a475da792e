"""Give chosen modules of a loaded model a new ``forward``, keeping bigdl-llm's.

bigdl-llm binds its CPU forwards to each module at load; ``replace`` keeps that
one as ``module.qwen_tui_forward`` (for fallbacks and for tests comparing the
two) and installs ours, once per module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def is_ours(module: Any) -> bool:
    """Whether the module runs the forward ``replace`` gave it (not bigdl-llm's, put back)."""
    kept = module.__dict__.get("qwen_tui_forward")
    return kept is not None and module.__dict__.get("forward") is not kept


def replace(model: Any, new_forward: Callable[[Any], Callable[..., Any] | None]) -> int:
    """Set ``module.forward = new_forward(module)`` where that is not None; return how many."""
    replaced = 0
    for module in model.modules():
        if hasattr(module, "qwen_tui_forward"):
            continue
        forward = new_forward(module)
        if forward is None:
            continue
        module.qwen_tui_forward = module.forward
        module.forward = forward
        replaced += 1
    return replaced
