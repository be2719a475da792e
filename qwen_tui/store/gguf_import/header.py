"""A validating reader of a GGUF file's header: its metadata and its table of tensors.

The layout (little-endian; versions 2 and 3 are the same here): ``GGUF``, u32 version, u64
tensor count, u64 metadata count; each metadata entry is a string key, a u32 value type and the
value; each tensor is a string name, u32 n_dims, u64 dims (innermost first), u32 ggml type and
u64 offset into the data, which starts at the next multiple of ``general.alignment`` (32) after
the table. A string is a u64 length and UTF-8 bytes; an array a u32 element type, u64 count
and the elements.

A file is a stranger's: every count and length is checked against the bytes left before it is
used (each entry needs at least a few bytes, so a count larger than the rest can hold is refused
at once), and every tensor's type, dimensions, offset and size against ggml and the file's end.
Nothing is allocated by what the file claims: the file is memory-mapped, numeric arrays are
views of it and string arrays are read one string at a time. What is wrong is said in one
sentence naming the key or tensor. ``read_header(path)`` is the API; ``tensor_bytes`` gives one
tensor's bytes, so a caller can work through a file one tensor at a time.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from ...errors import UsageError

MAX_DIMS = 4  # ggml's GGML_MAX_DIMS
MAX_ALIGNMENT = 1 << 20
DEFAULT_ALIGNMENT = 32
_HINT = "Download it again, or use a GGUF file written by llama.cpp's convert_hf_to_gguf.py."
# value type -> (name, struct format); 8 is a string and 9 an array
_SCALARS = {
    0: ("uint8", "<B"), 1: ("int8", "<b"), 2: ("uint16", "<H"), 3: ("int16", "<h"),
    4: ("uint32", "<I"), 5: ("int32", "<i"), 6: ("float32", "<f"), 7: ("bool", "<?"),
    10: ("uint64", "<Q"), 11: ("int64", "<q"), 12: ("float64", "<d"),
}  # fmt: skip
_STRING, _ARRAY = 8, 9
# the fewest bytes one entry can take: a key (length + 1 byte), a type and a 1-byte value; a
# tensor's name (length + 1 byte), n_dims, one dimension, its type and its offset
_MIN_ENTRY = 8 + 1 + 4 + 1
_MIN_TENSOR = 8 + 1 + 4 + 8 + 4 + 8


class StringArray(Sequence[str]):
    """A metadata array of strings, read from the mapped file when asked for (a vocabulary of
    150,000 tokens is not 150,000 Python objects until a caller makes it so)."""

    def __init__(self, data: mmap.mmap, starts: np.ndarray) -> None:
        self._data, self._starts = data, starts  # where each string's length field is

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start = int(self._starts[index])
        (length,) = struct.unpack_from("<Q", self._data, start)
        return self._data[start + 8 : start + 8 + length].decode("utf-8")  # checked when read

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: GGMLQuantizationType
    dims: tuple[int, ...]  # as stored: innermost first
    offset: int  # where its bytes start in the file
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """Row-major (numpy and torch order): a ``[in, out]`` GGUF weight is ``(out, in)``."""
        return tuple(reversed(self.dims))

    @property
    def n_elements(self) -> int:
        count = 1
        for d in self.dims:
            count *= d
        return count


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    alignment: int
    data_offset: int
    metadata: dict[str, Any]  # int, float, bool, str, numpy array or StringArray
    tensors: tuple[TensorInfo, ...]

    def tensor(self, name: str) -> TensorInfo | None:
        return next((t for t in self.tensors if t.name == name), None)


def tensor_bytes(header: GGUFHeader, info: TensorInfo) -> np.ndarray:
    """The raw bytes of one tensor, mapped from the file (uint8, read-only)."""
    return np.memmap(header.path, dtype=np.uint8, mode="r", offset=info.offset,
                     shape=(info.nbytes,))  # fmt: skip


def read_header(path: Path) -> GGUFHeader:
    """Read and check the header of the GGUF file ``path``; raise UsageError if it is not a
    GGUF file this reader can trust (one sentence saying what is wrong)."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as fh:
            size = path.stat().st_size
            if size < 24:
                raise _bad(path, f"it is {size} bytes long, shorter than a GGUF header")
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.", "Check the path.") from None
    return _Reader(path, data).header()


def _bad(path: Path, reason: str) -> UsageError:
    return UsageError(f"{path.name} cannot be imported: {reason}.", _HINT)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


class _Reader:
    def __init__(self, path: Path, data: mmap.mmap) -> None:
        self.path, self.data, self.pos, self.size = path, data, 0, len(data)

    def bad(self, reason: str) -> UsageError:
        return _bad(self.path, reason)

    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int, what: str) -> int:
        """Advance over ``n`` bytes of ``what``; where they start."""
        if n > self.left():
            raise self.bad(f"it ends in the middle of {what}: the file is cut short or damaged")
        start = self.pos
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack_from(fmt, self.data, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        length = self.unpack("<Q", what)
        start = self.take(length, what)
        try:
            return self.data[start : start + length].decode("utf-8")
        except UnicodeDecodeError:
            raise self.bad(f"{what} is not UTF-8 text") from None

    def check_count(self, n: int, what: str, least_bytes: int) -> int:
        """``n`` entries that take at least ``least_bytes`` each, if the rest can hold them."""
        if n * least_bytes > self.left():
            raise self.bad(
                f"it says it holds {n:,} {what} but only {self.left():,} bytes follow: the file "
                "is cut short or damaged"
            )
        return n

    # -- the parts ------------------------------------------------------------------------------
    def header(self) -> GGUFHeader:
        if self.data[:4] != b"GGUF":
            raise self.bad("it does not start with GGUF's magic bytes")
        self.pos = 4
        version = self.unpack("<I", "the version")
        if version & 0xFFFF == 0 and version:
            raise self.bad("it is a big-endian GGUF file; qwen-tui reads little-endian ones")
        if version not in (2, 3):
            raise self.bad(f"it is GGUF version {version}; qwen-tui reads versions 2 and 3")
        n_tensors = self.unpack("<Q", "the number of tensors")
        n_entries = self.unpack("<Q", "the number of metadata entries")
        self.check_count(n_tensors, "tensors", _MIN_TENSOR)
        self.check_count(n_entries, "metadata entries", _MIN_ENTRY)
        metadata: dict[str, Any] = {}
        for _ in range(n_entries):
            key = self.string("a metadata key")
            if not key or key in metadata:
                raise self.bad(f"it has an empty or repeated metadata key {key!r}")
            kind = self.unpack("<I", f"the type of metadata '{key}'")
            metadata[key] = self.value(kind, key)
        self.check_count(n_tensors, "tensors", _MIN_TENSOR)  # after the metadata, exactly
        tensors, names = [], set()
        for _ in range(n_tensors):
            tensors.append(self.tensor_info())
            if tensors[-1][0] in names:
                raise self.bad(f"it has two tensors named '{tensors[-1][0]}'")
            names.add(tensors[-1][0])
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if (
            isinstance(alignment, bool)
            or not isinstance(alignment, int)
            or not 0 < alignment <= MAX_ALIGNMENT
            or alignment & (alignment - 1)
        ):
            shown = repr(alignment) if isinstance(alignment, (int, float, str)) else "a list"
            raise self.bad(f"its general.alignment is {shown}, not a power of two")
        data_offset = -(-self.pos // alignment) * alignment
        return GGUFHeader(
            self.path,
            version,
            alignment,
            data_offset,
            metadata,
            tuple(self.placed(t, data_offset, alignment) for t in tensors),
        )

    def value(self, kind: int, key: str) -> Any:
        what = f"the value of metadata '{key}'"
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind][1], what)
        if kind == _STRING:
            return self.string(what)
        if kind != _ARRAY:
            raise self.bad(f"metadata '{key}' has value type {kind}, which GGUF does not define")
        element = self.unpack("<I", what)
        if element == _ARRAY:
            raise self.bad(f"metadata '{key}' is an array of arrays, which qwen-tui does not read")
        if element != _STRING and element not in _SCALARS:
            raise self.bad(f"metadata '{key}' is an array of type {element}, not a GGUF type")
        width = 8 if element == _STRING else struct.calcsize(_SCALARS[element][1])
        n = self.check_count(self.unpack("<Q", what), f"entries in metadata '{key}'", width)
        if element != _STRING:
            start = self.take(n * width, what)
            return np.frombuffer(self.data, _SCALARS[element][1], n, start)
        starts = np.empty(n, dtype=np.int64)  # n * 8 bytes: at most the bytes left
        for i in range(n):
            starts[i] = self.pos
            self.string(f"entry {i} of metadata '{key}'")
        return StringArray(self.data, starts)

    def tensor_info(self) -> tuple[str, int, tuple[int, ...], int]:
        name = self.string("a tensor name")
        if not name:
            raise self.bad("it has a tensor without a name")
        n_dims = self.unpack("<I", f"tensor '{name}'")
        if not 1 <= n_dims <= MAX_DIMS:
            raise self.bad(f"tensor '{name}' has {n_dims} dimensions; GGUF tensors have 1 to 4")
        dims = tuple(self.unpack("<Q", f"tensor '{name}'") for _ in range(n_dims))
        for d in dims:
            if not 0 < d < 1 << 63:
                raise self.bad(f"tensor '{name}' has a dimension of {_signed(d)}")
        kind = self.unpack("<I", f"tensor '{name}'")
        offset = self.unpack("<Q", f"tensor '{name}'")
        return name, kind, dims, offset

    def placed(
        self, t: tuple[str, int, tuple[int, ...], int], data_offset: int, alignment: int
    ) -> TensorInfo:
        """The tensor, once its type, size and place in the file are checked."""
        name, kind, dims, offset = t
        try:
            ggml_type = GGMLQuantizationType(kind)
            block, block_bytes = GGML_QUANT_SIZES[ggml_type]
        except (ValueError, KeyError):
            raise self.bad(f"tensor '{name}' has type {kind}, which is not a ggml type") from None
        if dims[0] % block:
            raise self.bad(
                f"tensor '{name}' has rows of {dims[0]} values, not a whole number of "
                f"{ggml_type.name} blocks ({block} values)"
            )
        elements = 1
        for d in dims:
            elements *= d
        nbytes = elements // block * block_bytes
        start = data_offset + offset
        if offset % alignment:
            raise self.bad(f"tensor '{name}' starts at {offset}, not a multiple of {alignment}")
        if start + nbytes > self.size:
            raise self.bad(
                f"tensor '{name}' ({nbytes:,} bytes at {start:,}) ends past the end of the file "
                f"({self.size:,} bytes)"
            )
        return TensorInfo(name, ggml_type, dims, start, nbytes)
