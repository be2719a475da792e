"""What an engine's weights run on, once loaded: the kernel paths, the instruction set, the
bytes a decoded token reads. ``bench`` and ``doctor`` show it; ``engine/bigdl/matmul.py`` makes
one for bigdl-llm's layers, ``engine/native`` for its arena."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("auto", "ours", "bigdl", "dequant")
MODE_ENV = "QWEN_TUI_MATMUL"


def mode_from_env() -> str:
    """``QWEN_TUI_MATMUL``: auto (ours wherever it fits) | ours | bigdl | dequant."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    return "ours" if mode == "q4" else mode if mode in MODES else "auto"


@dataclass(frozen=True)
class MatmulPlan:
    mode: str
    isa: str  # the kernel variant (kernels.chosen_isa)
    layers: dict[str, int] = field(default_factory=dict)  # "format:path" -> how many layers
    note: str = ""
    weight_bytes: int = 0  # of the low-bit layers: what every decoded token reads
    huge_pages: bool = False  # our packed weights are in one buffer advised onto 2 MB pages

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
