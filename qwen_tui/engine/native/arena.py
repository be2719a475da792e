"""A store's weights mapped straight into the kernels' layout, without a second copy.

``model.safetensors`` holds bigdl-llm's row-major blocks for every quantized tensor and float32
for norms and biases. A few rows of a tensor at a time (``PIECE`` bytes, whole 16-row groups)
are mapped from the file, regrouped by our C repack (``kernels.weights.pack_into``) into the
tensor's slice of one arena on 2 MB pages (``runtime/pages.huge_array``: the buffer the torch
engine's ``matmul.prepare`` fills), and unmapped before the next: the file's pages never count
in the process's memory more than a piece at a time, so loading peaks at the arena plus one
piece. Norms and biases are copied as float32. The packed arena is kept in a file after the
first load, and later loads map it instead of packing (``packed_cache.py``).
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...families import Planned
from ...sizes import PACKED_ALIGN
from ...store.sources.base import SourceTensor
from ...store.sources.safetensors import read_header
from ..kernels.numpy_api import PackedArray
from ..kernels.weights import GROUP, bigdl_bytes, pack_into, packed_bytes
from ..runtime.pages import huge_array
from . import packed_cache
from .layout import WEIGHTS, StoreLayout

ALIGN = PACKED_ALIGN  # each weight's slice of the arena starts at a 64-byte boundary
PIECE = 16 << 20  # bytes of a quantized tensor mapped at a time (rounded to 16-row groups)


class StoreDamaged(ValueError):
    """``model.safetensors`` does not hold what the layout says (the message names the tensor)."""


@dataclass
class StoreWeights:
    packed: dict[str, PackedArray]  # quantized tensors by store name, biases attached
    floats: dict[str, np.ndarray]  # norms and biases by store name (float32)
    arena: np.ndarray  # every packed weight's bytes
    huge_pages: bool  # the arena was advised onto 2 MB pages
    counts: dict[str, int] = field(default_factory=dict)  # "format:ours" -> how many weights
    mapped: bool = False  # the arena is the packed file of an earlier load, mapped read-only

    @property
    def nbytes(self) -> int:
        return int(self.arena.nbytes + sum(a.nbytes for a in self.floats.values()))


def _slices(tensors: list[Planned]) -> tuple[dict[str, tuple[int, int]], int]:
    """Where each quantized tensor's packed bytes go in the arena, and its size."""
    where, start = {}, 0
    for t in tensors:
        if t.store != "f32":
            size = packed_bytes(t.store, *t.shape)
            where[t.name] = (start, size)
            start += -(-size // ALIGN) * ALIGN
    return where, start


def load_weights(folder: Path, layout: StoreLayout) -> StoreWeights:
    """Every tensor of ``folder/model.safetensors`` as the layout plans it."""
    path = Path(folder) / WEIGHTS
    entries = read_header(path)
    for t in layout.tensors:
        _check(t, entries.get(t.name))
    where, total = _slices(layout.tensors)
    cached = packed_cache.mapped(folder, total)
    arena, huge = (cached, False) if cached is not None else huge_array(total)
    raw: dict[str, np.ndarray] = {}
    floats: dict[str, np.ndarray] = {}
    # in file order: the disk is read front to back
    with open(path, "rb") as fh:
        for t in sorted(layout.tensors, key=lambda t: entries[t.name][0]):
            start, info = entries[t.name]
            if t.store == "f32":
                floats[t.name] = _mapped(fh.fileno(), start, info.nbytes, _floats(t.shape))
                continue
            at, size = where[t.name]
            into = arena[at : at + size]
            raw[t.name] = into
            if cached is not None:
                continue
            rows, cols = t.shape
            row_bytes = bigdl_bytes(t.store, 1, cols)
            step = max(GROUP, PIECE // row_bytes // GROUP * GROUP)
            for first in range(0, rows, step):
                count = min(step, rows - first)
                use = _packer(t, into, first)
                _mapped(fh.fileno(), start + first * row_bytes, count * row_bytes, use)
    if cached is None:
        packed_cache.write(folder, arena)
    packed: dict[str, PackedArray] = {}
    counts: dict[str, int] = {}
    for t in layout.tensors:
        if t.store == "f32":
            continue
        bias = floats.get(t.name[: -len(".weight")] + ".bias")
        packed[t.name] = PackedArray(t.store, raw[t.name], t.shape[0], t.shape[1], bias)
        if t.role != "token_embd":  # a layer (the engine counts the embedding apart)
            counts[f"{t.store}:ours"] = counts.get(f"{t.store}:ours", 0) + 1
    return StoreWeights(
        packed, floats, arena, huge, dict(sorted(counts.items())), cached is not None
    )


def _check(t: Planned, entry: tuple[int, SourceTensor] | None) -> None:
    if entry is None:
        raise StoreDamaged(f"{WEIGHTS} has no {t.name}")
    info = entry[1]
    if t.store == "f32":
        fits = info.dtype == "F32" and tuple(info.shape) == tuple(t.shape)
        want = f"float32 {list(t.shape)}"
    else:
        size = bigdl_bytes(t.store, *t.shape)
        fits = info.dtype == "U8" and info.nbytes == size
        want = f"{size} bytes of {t.store}"
    if not fits:
        raise StoreDamaged(
            f"{WEIGHTS} holds {t.name} as {info.dtype} {list(info.shape)}, not the {want} its "
            "layout says"
        )


def _floats(shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda data: np.array(data.view(np.float32).reshape(shape))  # a copy


def _packer(t: Planned, into: np.ndarray, first: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda data: pack_into(t.store, data, t.shape[0], t.shape[1], into, first)


def _mapped(
    fileno: int, start: int, nbytes: int, use: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """What ``use`` makes of ``nbytes`` of a file from ``start``, mapped read-only as a uint8
    array while it runs, then unmapped (its pages leave the process's memory)."""
    base = start - start % mmap.ALLOCATIONGRANULARITY
    mapped = mmap.mmap(fileno, nbytes + start - base, access=mmap.ACCESS_READ, offset=base)
    try:
        return use(np.frombuffer(mapped, np.uint8, count=nbytes, offset=start - base))
    finally:
        try:
            mapped.close()  # no view of it is left: ``use`` returns a copy or the arena
        except BufferError:  # an error's traceback still holds one: the map goes with it
            pass
