"""A PyTorch checkpoint (``pytorch_model.bin``: torch.save's zip format) read one tensor at a
time, without torch and without running any of the file's code.

torch.save writes a zip whose members are stored, not compressed: ``<name>/data.pkl``, the
saved object (a dict of tensors) pickled, and each tensor storage's bytes as
``<name>/data/<key>``. The pickle is read by an unpickler that knows only the few names such a
file uses (a tensor rebuilt from a storage, the storage types, OrderedDict) and refuses any
other, so nothing in it runs. Every tensor is then a checked byte range of the file (inside
its storage, laid out row after row), mapped only while it is read (``mapped.py``).
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError
from .base import SourceTensor
from .mapped import ITEMSIZE, Entry, MappedSource

MAX_PICKLE = 100 << 20  # data.pkl of a state dict is names and numbers: kilobytes
LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # a zip member's local header: 30 bytes
LOCAL_MAGIC = 0x04034B50
# torch's storage classes -> the dtype names safetensors uses (mapped.ITEMSIZE)
STORAGES = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16",
    "BFloat16Storage": "BF16", "ByteStorage": "U8", "CharStorage": "I8", "ShortStorage": "I16",
    "IntStorage": "I32", "LongStorage": "I64", "BoolStorage": "BOOL",
}  # fmt: skip
INDEX = "pytorch_model.bin.index.json"
_HINT = "Save the model again (the file may be cut short or not a PyTorch checkpoint)."


@dataclass(frozen=True)
class _StorageType:
    dtype: str


@dataclass(frozen=True)
class _Storage:
    dtype: str
    key: str
    count: int  # elements


@dataclass(frozen=True)
class _Tensor:
    storage: _Storage
    offset: int  # elements into the storage
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    numbers = [offset, *size, *stride]
    if not all(isinstance(n, int) and n >= 0 for n in numbers) or len(size) != len(stride):
        raise pickle.UnpicklingError("a tensor whose offset, shape or strides are not sizes")
    return _Tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


class _Unpickler(pickle.Unpickler):
    """Only what torch.save writes for a dict of tensors; any other name is refused."""

    ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): dict,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[module, name]
        if module == "torch" and name in STORAGES:
            return _StorageType(STORAGES[name])
        raise pickle.UnpicklingError(f"it names {module}.{name}"[:120])

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("a storage of another kind than torch.save writes")
        _, kind, key, _, count = pid
        if not isinstance(kind, _StorageType) or not isinstance(count, int) or count < 0:
            raise pickle.UnpicklingError("a storage of another kind than torch.save writes")
        return _Storage(kind.dtype, str(key), count)


class TorchZipSource(MappedSource):
    """The tensors of a folder's ``pytorch_model.bin`` (or the shards its index names)."""

    def __init__(self, folder: Path) -> None:
        entries: dict[str, Entry] = {}
        for path in bin_files(Path(folder)):
            for name, entry in read_checkpoint(path).items():
                if name in entries:
                    raise UsageError(
                        f"{folder}: tensor {name} is in both {entries[name].file.name} and "
                        f"{path.name}.",
                        _HINT,
                    )
                entries[name] = entry
        super().__init__(folder, entries)


def bin_files(folder: Path) -> list[Path]:
    """``pytorch_model.bin``, or the shards ``pytorch_model.bin.index.json`` names."""
    index = folder / INDEX
    if not index.is_file():
        return [folder / "pytorch_model.bin"] if (folder / "pytorch_model.bin").is_file() else []
    try:
        names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UsageError(f"{index} is not a checkpoint index.", _HINT) from None
    for name in names:
        if not isinstance(name, str) or "/" in name or not (folder / name).is_file():
            raise UsageError(f"{index} names {str(name)[:80]}, which is not in {folder}.", _HINT)
    return [folder / name for name in names]


def read_checkpoint(path: Path) -> dict[str, Entry]:
    """Each tensor of one torch.save zip: where its bytes are in the file, and what it is."""

    def bad(what: str) -> UsageError:
        return UsageError(f"{path} {what}.", _HINT)

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise bad("is not a PyTorch zip checkpoint (cut short, or torch's legacy format)") from None
    with archive, open(path, "rb") as fh:
        members = {info.filename: info for info in archive.infolist()}
        pickles = [n for n in members if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise bad("holds no data.pkl, as torch.save writes")
        prefix = pickles[0].removesuffix("data.pkl")
        order = members.get(prefix + "byteorder")
        if order is not None and archive.read(order).strip() != b"little":
            raise bad("was written on a big-endian machine")
        if members[pickles[0]].file_size > MAX_PICKLE:
            raise bad("holds a data.pkl too large for a dict of tensors")
        try:
            saved = _Unpickler(archive.open(pickles[0])).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            raise bad(f"holds a data.pkl qwen-tui does not read ({exc})") from None
        if not isinstance(saved, dict) or not all(
            isinstance(k, str) and isinstance(v, _Tensor) for k, v in saved.items()
        ):
            raise bad("holds something other than a dict of tensors")
        size = path.stat().st_size
        starts: dict[str, tuple[int, int]] = {}  # storage key -> (start in the file, bytes)
        entries = {}
        for name, tensor in saved.items():
            key = tensor.storage.key
            if key not in starts:
                member = members.get(f"{prefix}data/{key}")
                if member is None:
                    raise bad(f"has no bytes for tensor {name}")
                starts[key] = (_data_start(fh, member, size, bad), member.file_size)
            entries[name] = Entry(path, *_placed(name, tensor, starts[key], bad))
    return entries


def _data_start(fh: Any, member: zipfile.ZipInfo, size: int, bad: Any) -> int:
    """Where a stored member's bytes begin in the file (after its local header)."""
    if member.compress_type != zipfile.ZIP_STORED or member.compress_size != member.file_size:
        raise bad(f"compresses {member.filename}, which torch.save never does")
    fh.seek(member.header_offset)
    head = fh.read(LOCAL_HEADER.size)
    if len(head) < LOCAL_HEADER.size or LOCAL_HEADER.unpack(head)[0] != LOCAL_MAGIC:
        raise bad(f"has a damaged entry for {member.filename}")
    fields = LOCAL_HEADER.unpack(head)
    start = member.header_offset + LOCAL_HEADER.size + fields[9] + fields[10]
    if start + member.file_size > size:
        raise bad(f"ends inside {member.filename} (it is cut short)")
    return start


def _placed(
    name: str, tensor: _Tensor, where: tuple[int, int], bad: Any
) -> tuple[int, SourceTensor]:
    """The tensor's first byte in the file, and what it is; refused unless its elements lie
    row after row inside its storage."""
    start, stored = where
    dtype = tensor.storage.dtype
    itemsize = ITEMSIZE[dtype]
    count, expected = 1, []
    for dim in reversed(tensor.shape):
        expected.append(count)
        count *= dim
    expected.reverse()
    placed = zip(tensor.shape, tensor.stride, expected, strict=True)
    if any(d != 1 and s != e for d, s, e in placed):
        raise bad(f"holds tensor {name} in another order than row after row")
    first, nbytes = tensor.offset * itemsize, count * itemsize
    if first + nbytes > min(stored, tensor.storage.count * itemsize):
        raise bad(f"holds fewer bytes of tensor {name} than its shape needs (it is cut short)")
    return start + first, SourceTensor(name, dtype, tensor.shape, nbytes, first)
