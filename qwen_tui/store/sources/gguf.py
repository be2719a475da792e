"""A GGUF file's weights, one tensor at a time, under their Hugging Face names.

The file is opened through ``gguf_import`` (its header checked, its tensor types known, its
metadata against its tensors); a tensor asked for by its Hugging Face name is dequantized
alone to float32 (the float values today's import unpacked to disk, now never written), and
float16/bfloat16 tensors are handed over in their own width.

What llama.cpp's converter changed on the way to the file is undone as each chunk of rows is
read (a Qwen3.5's value heads reordered, norms stored as 1 + w, A_log as -exp(A_log), the conv
squeezed: ``families/qwen35_gguf.py``), so the source gives the checkpoint's own tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ...families import ModelDims, family_for
from ...families.qwen35_gguf import ROW_MOVES, SAME_ROWS, from_gguf_rows, gguf_rows
from ..gguf_import import weights
from ..gguf_import.header import TensorInfo, tensor_bytes
from ..gguf_import.read import GgufFile, open_gguf
from .base import SourceTensor, TensorData


class GgufSource:
    def __init__(self, path: Path, gf: GgufFile | None = None) -> None:
        self.where = Path(path)
        self.gf = gf or open_gguf(self.where)
        weights.check_types(self.gf)
        self._dims: ModelDims | None = None
        by_name = {t.name: t for t in self.gf.header.tensors}
        self._by_hf: dict[str, tuple[TensorInfo, tuple[str, ...]]] = {}
        for name, (hf, steps) in weights.tensor_map(self.gf).items():
            self._by_hf[hf] = (by_name[name], steps)
            if steps and self._dims is None:  # the steps are computed from the model's shape
                from ..gguf_import.convert import hf_config

                config = hf_config(self.gf)
                family = family_for(config["model_type"])
                assert family is not None
                self._dims = family.dims(config)

    def names(self) -> list[str]:
        return list(self._by_hf)

    def held(self) -> list[SourceTensor]:
        """The file's tensors by their GGUF names (an MTP layer's too: ``names`` has only
        those the model runs, by their Hugging Face names)."""
        return [SourceTensor(t.name, f"GGUF:{t.type.name}", t.shape, t.nbytes)
                for t in self.gf.header.tensors]  # fmt: skip

    def info(self, name: str) -> SourceTensor | None:
        found = self._by_hf.get(name)
        if found is None:
            return None
        tensor, steps = found
        shape = tensor.shape
        if "squeeze" in steps:  # the checkpoint's conv is [channels, 1, kernel]
            shape = (shape[0], 1, *shape[1:])
        return SourceTensor(name, f"GGUF:{tensor.type.name}", shape, tensor.nbytes)

    @contextmanager
    def read(self, name: str, rows: tuple[int, int] | None = None) -> Iterator[TensorData]:
        """The tensor's rows ``[start, end)`` (all by default), as the checkpoint holds them:
        float16/bfloat16 as they are where only rows move (widened one block at a time by the
        quantizer), other types dequantized, just those rows (a row is whole blocks of every
        GGUF type)."""
        tensor, steps = self._by_hf[name]
        kind = tensor.type.name
        count = tensor.shape[0]
        first, last = rows or (0, count)
        raw = tensor_bytes(self.gf.header, tensor).reshape(count, -1)
        picked = gguf_rows(steps, self._dims, count, first, last) if self._dims else None
        raw = raw[first:last] if picked is None else raw[picked]
        changes = [s for s in steps if s not in ROW_MOVES + SAME_ROWS]
        if kind in ("F16", "BF16") and not changes:
            values = raw.reshape(-1).view(np.float16 if kind == "F16" else np.uint16)
            yield TensorData(values.reshape(last - first, -1), kind.lower())
        else:
            values = weights.dequantize_rows(tensor, raw)
            if changes and self._dims is not None:
                values = np.asarray(from_gguf_rows(values, steps, self._dims), np.float32)
            yield TensorData(values.reshape(last - first, -1), "f32")

    def close(self) -> None:
        pass
