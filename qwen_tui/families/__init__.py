"""The model families qwen-tui runs, one module each (``qwen1.py``, ``qwen2.py``, ``qwen3.py``,
``qwen35.py``), declared as a ``FamilySpec`` (``spec.py``) that the quantizer, the estimates and
the checks read. Adding a family is adding a module here and listing it below."""

from __future__ import annotations

from .qwen1 import QWEN1
from .qwen2 import QWEN2
from .qwen3 import QWEN3
from .qwen35 import QWEN35
from .spec import FULL, LINEAR, FamilySpec, ModelDims, Planned, TensorSpec

FAMILIES: tuple[FamilySpec, ...] = (QWEN1, QWEN2, QWEN3, QWEN35)
BY_NAME = {f.name: f for f in FAMILIES}

__all__ = [
    "BY_NAME", "FAMILIES", "FULL", "LINEAR", "FamilySpec", "ModelDims", "Planned", "TensorSpec",
    "family_for",
]  # fmt: skip


def family_for(model_type: str) -> FamilySpec | None:
    """The family whose checkpoints say ``model_type`` in config.json, or None."""
    return next((f for f in FAMILIES if model_type in f.model_types), None)
