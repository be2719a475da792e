"""Tensors that are byte ranges of files, read by mapping just those bytes: what a safetensors
file (``safetensors.py``) and a PyTorch checkpoint (``torch_zip.py``) become once their headers
are read and checked. A tensor's pages count in the process's memory only while it is used."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import SourceTensor, TensorData

# the float dtypes ``read`` gives as values; any tensor's bytes come from ``read_bytes``
DTYPES = {"F32": (np.float32, "f32"), "F16": (np.float16, "f16"), "BF16": (np.uint16, "bf16"),
          "F64": (np.float64, "f64")}  # fmt: skip
ITEMSIZE = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    file: Path
    start: int  # absolute offset of the tensor's bytes in its file
    info: SourceTensor


class MappedSource:
    """Tensors by name, each a checked byte range of a file (``entries``)."""

    where: Path

    def __init__(self, where: Path, entries: dict[str, Entry]) -> None:
        self.where = Path(where)
        self._entries = entries

    def names(self) -> list[str]:
        return list(self._entries)

    def held(self) -> list[SourceTensor]:
        return [entry.info for entry in self._entries.values()]

    def info(self, name: str) -> SourceTensor | None:
        entry = self._entries.get(name)
        return entry.info if entry else None

    @contextmanager
    def read(self, name: str, rows: tuple[int, int] | None = None) -> Iterator[TensorData]:
        """The tensor (or rows ``[start, end)`` of it) as a read-only array of its own dtype,
        mapped from the file while the block runs."""
        entry = self._entries[name]
        info = entry.info
        numpy_type, kind = DTYPES[info.dtype]
        shape = info.shape if len(info.shape) > 1 else (*info.shape, 1)
        row_bytes = info.nbytes // shape[0] if shape[0] else 0
        first, last = rows if rows else (0, shape[0])
        cols = int(np.prod(shape[1:]))
        with self.read_bytes(name, first * row_bytes, last * row_bytes) as raw:
            data = TensorData(raw.view(numpy_type).reshape(last - first, cols), kind)
            del raw  # the mapping closes when the block ends: no view of it may outlive it
            try:
                yield data
            finally:
                del data

    @contextmanager
    def read_bytes(self, name: str, start: int, stop: int) -> Iterator[np.ndarray]:
        """Bytes ``[start, stop)`` of the tensor as a read-only uint8 array, mapped from the
        file while the block runs."""
        entry = self._entries[name]
        if not 0 <= start <= stop <= entry.info.nbytes:
            raise ValueError(f"bytes {start}:{stop} of {name} are outside its {entry.info.nbytes}")
        length, begin = stop - start, entry.start + start
        if length == 0:
            yield np.zeros(0, np.uint8)
            return
        with open(entry.file, "rb") as fh:
            base = begin - begin % mmap.ALLOCATIONGRANULARITY
            mapped = mmap.mmap(fh.fileno(), length + begin - base, access=mmap.ACCESS_READ,
                               offset=base)  # fmt: skip
        view: np.ndarray | None = None
        try:
            view = np.frombuffer(mapped, np.uint8, count=length, offset=begin - base)
            yield view
        finally:
            del view
            try:
                mapped.close()  # its pages leave the process's memory now
            except BufferError:  # a caller kept a view: the mapping goes with it
                pass

    def close(self) -> None:
        pass
