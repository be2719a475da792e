"""A Hugging Face folder's weights, one tensor at a time, straight from its safetensors files.

A safetensors file is an 8-byte little-endian header length, a JSON header (each tensor's
dtype, shape and byte range in the data that follows) and the data. The header is read and
checked here without trusting it (its length within the file, every range inside the data
and of the size its dtype and shape make, no tensor in two shards); then a tensor is read by
mapping just its bytes, so the memory a tensor takes is held only while it is used, and a
bfloat16 or float16 tensor stays in that width until the quantizer widens one block at a time.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ...errors import UsageError
from .base import SourceTensor
from .mapped import ITEMSIZE, Entry, MappedSource

__all__ = ["SafetensorsSource", "read_header"]

MAX_HEADER = 100 << 20  # safetensors' own limit
_HINT = "Download the model again (a file may be cut short or not a safetensors file)."


class SafetensorsSource(MappedSource):
    """The tensors of every ``*.safetensors`` file of a folder (or those its index names)."""

    def __init__(self, folder: Path) -> None:
        entries: dict[str, Entry] = {}
        for path in _shards(Path(folder)):
            for name, entry in _read_header(path).items():
                if name in entries:
                    raise UsageError(
                        f"{folder}: tensor {name} is in both {entries[name].file.name} "
                        f"and {path.name}.",
                        _HINT,
                    )
                entries[name] = entry
        super().__init__(folder, entries)


def _shards(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UsageError(f"{index} is not a safetensors index.", _HINT) from None
        shards = [folder / n for n in names]
        for shard in shards:
            if "/" in str(Path(shard).relative_to(folder)) or not shard.is_file():
                raise UsageError(f"{index} names {shard.name}, which is not in {folder}.", _HINT)
        return shards
    return sorted(folder.glob("*.safetensors"))


def read_header(path: Path) -> dict[str, tuple[int, SourceTensor]]:
    """Each tensor of one safetensors file, checked as ``SafetensorsSource`` checks them: where
    its bytes start in the file, and what it is (for readers of other dtypes, such as a store's
    U8 blocks)."""
    return {name: (entry.start, entry.info) for name, entry in _read_header(path).items()}


def _read_header(path: Path) -> dict[str, Entry]:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise UsageError(f"{path} is too short to be a safetensors file.", _HINT)
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER, size - 8):
            raise UsageError(f"{path} claims a header of {length} bytes, past its end.", _HINT)
        try:
            header = json.loads(fh.read(length))
        except (ValueError, UnicodeDecodeError):
            raise UsageError(f"{path}'s header is not JSON.", _HINT) from None
    if not isinstance(header, dict):
        raise UsageError(f"{path}'s header is not a JSON object.", _HINT)
    data_start, data_size = 8 + length, size - 8 - length
    entries = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        entries[name] = Entry(path, data_start, _tensor(path, name, spec, data_size))
    for name, entry in entries.items():
        entries[name] = Entry(path, data_start + entry.info.offset, entry.info)
    return entries


def _tensor(path: Path, name: str, spec: object, data_size: int) -> SourceTensor:
    def bad(what: str) -> UsageError:
        return UsageError(f"{path.name}: tensor {name} {what}.", _HINT)

    if not isinstance(spec, dict):
        raise bad("has no description")
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if dtype not in ITEMSIZE:
        raise bad(f"has an unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise bad("has a shape that is not a list of sizes")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data_size
    ):
        raise bad("lies outside the file (it may be cut short)")
    count = 1
    for d in shape:
        count *= d
    if offsets[1] - offsets[0] != count * ITEMSIZE[dtype]:
        raise bad(f"holds {offsets[1] - offsets[0]} bytes, not the {count * ITEMSIZE[dtype]} its "
                  "shape needs")  # fmt: skip
    return SourceTensor(name, dtype, tuple(shape), offsets[1] - offsets[0], offsets[0])
