"""Random weights in a model's shapes, as a source the streaming quantizer reads: speed and
memory depend only on a model's dimensions, so `bench --synthetic` measures a Qwen3-8B without
one byte of it downloaded and without its 32 GB of float32 ever existing (each chunk of rows is
made when the quantizer asks for it, from a seed of its own, and dropped after)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ...families import Planned
from .base import SourceTensor, TensorData


class RandomSource:
    """Weights N(0, 0.02), norms 1, biases 0, for every source tensor of ``plan``."""

    def __init__(self, plan: list[Planned], where: str = "random weights") -> None:
        self.where = Path(where)
        self._shapes: dict[str, tuple[int, ...]] = {}
        for t in plan:
            rows = t.rows[1] if t.rows else t.shape[0]
            self._shapes[t.source] = (max(rows, self._shapes.get(t.source, (0,))[0]),
                                      *t.shape[1:])  # fmt: skip
        self._kinds = {t.source: t.role for t in plan}

    def names(self) -> list[str]:
        return list(self._shapes)

    def held(self) -> list[SourceTensor]:
        return [SourceTensor(name, "F32", shape, int(np.prod(shape)) * 4)
                for name, shape in self._shapes.items()]  # fmt: skip

    def info(self, name: str) -> SourceTensor | None:
        shape = self._shapes.get(name)
        if shape is None:
            return None
        count = int(np.prod(shape))
        return SourceTensor(name, "F32", shape, count * 4)

    @contextmanager
    def read(self, name: str, rows: tuple[int, int] | None = None) -> Iterator[TensorData]:
        shape = self._shapes[name]
        first, last = rows or (0, shape[0])
        width = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        role = self._kinds[name]
        if len(shape) == 1:
            fill = 1.0 if role.endswith("norm") else 0.0
            yield TensorData(np.full((last - first, 1), fill, np.float32), "f32")
            return
        seed = zlib.crc32(name.encode()) ^ first
        values = np.random.default_rng(seed).standard_normal((last - first, width), np.float32)
        values *= np.float32(0.02)
        yield TensorData(values, "f32")

    def close(self) -> None:
        pass
