"""A GGUF file's weights, one tensor at a time, under their Hugging Face names.

The file is opened through ``gguf_import`` (its header checked, its tensor types known, its
metadata against its tensors); a tensor asked for by its Hugging Face name is dequantized
alone to float32 (the float values today's import unpacked to disk, now never written), and
float16/bfloat16 tensors are handed over in their own width.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..gguf_import import weights
from ..gguf_import.header import TensorInfo, tensor_bytes
from ..gguf_import.read import GgufFile, open_gguf
from .base import SourceTensor, TensorData


class GgufSource:
    def __init__(self, path: Path, gf: GgufFile | None = None) -> None:
        self.where = Path(path)
        self.gf = gf or open_gguf(self.where)
        weights.check_types(self.gf)
        self._by_hf: dict[str, TensorInfo] = {}
        for tensor in self.gf.header.tensors:
            name = weights.hf_name(tensor.name)
            if name is not None:
                self._by_hf[name] = tensor

    def names(self) -> list[str]:
        return list(self._by_hf)

    def info(self, name: str) -> SourceTensor | None:
        tensor = self._by_hf.get(name)
        if tensor is None:
            return None
        return SourceTensor(name, f"GGUF:{tensor.type.name}", tensor.shape, tensor.nbytes)

    @contextmanager
    def read(self, name: str, rows: tuple[int, int] | None = None) -> Iterator[TensorData]:
        """The tensor's rows ``[start, end)`` (all by default): float16/bfloat16 as they are
        (widened one block at a time by the quantizer), other types dequantized, just those
        rows (a row is whole blocks of every GGUF type)."""
        tensor = self._by_hf[name]
        kind = tensor.type.name
        count = tensor.shape[0]
        first, last = rows or (0, count)
        raw = tensor_bytes(self.gf.header, tensor).reshape(count, -1)[first:last]
        if kind in ("F16", "BF16"):
            values = raw.reshape(-1).view(np.float16 if kind == "F16" else np.uint16)
            yield TensorData(values.reshape(last - first, -1), kind.lower())
        else:
            values = weights.dequantize_rows(tensor, raw)
            yield TensorData(values.reshape(last - first, -1), "f32")

    def close(self) -> None:
        pass
