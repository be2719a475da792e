"""What the streaming quantizer reads: a source of tensors, one at a time."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SourceTensor:
    """What a source says of one tensor before any of its bytes is read."""

    name: str
    dtype: str  # the source's own name for it ("BF16", "F32", "Q8_0" ...)
    shape: tuple[int, ...]  # as the model multiplies it: [rows, cols] of a weight
    nbytes: int
    offset: int = 0


@dataclass(frozen=True)
class TensorData:
    """A tensor's values as ``[rows, cols]`` (a vector: ``[n, 1]``), in ``kind``: "f32", "f16",
    "bf16" (as uint16) or "f64"; read-only, valid inside the ``read`` block only."""

    array: np.ndarray
    kind: str


class TensorSource(Protocol):
    where: Path

    def names(self) -> list[str]: ...

    def held(self) -> list[SourceTensor]:
        """Every tensor the source holds, by its own name there (a GGUF file's for a GGUF
        file): those the model does not run too, which ``names`` leaves out where it can."""
        ...

    def info(self, name: str) -> SourceTensor | None: ...

    def read(
        self, name: str, rows: tuple[int, int] | None = None
    ) -> AbstractContextManager[TensorData]: ...

    def close(self) -> None: ...
