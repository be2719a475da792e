"""The streaming quantizer: a source's tensors, one at a time, into the store.

A family's plan (``families``) lists every tensor the store holds. Before a byte is written
the source is checked against it (every tensor there, of the shape the config says, of a type
we can read); then each tensor is read (mapped), quantized by our C quantizer in bigdl-llm's
block format (or widened to float32: norms and biases) and appended to ``model.safetensors``,
whose header is written first since every size is known from the plan. No model is ever built:
memory holds one source tensor and its quantized bytes at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import Cancelled, UsageError
from ..families import FamilySpec, ModelDims, Planned
from ..recipes import Recipe
from ..sizes import CHUNK_VALUES  # values read, widened and quantized at a time
from .sources.base import TensorData, TensorSource
from .weights_header import weights_file_bytes, weights_header

WEIGHTS = "model.safetensors"
LAYOUT = "qwen-tui-lowbit.json"
READABLE = ("F32", "F16", "BF16", "F64")


def check_plan(source: TensorSource, plan: list[Planned], what: str) -> None:
    """Refuse, naming the tensor, a source that lacks one the plan needs, or holds it in
    another shape or a type we cannot read: before anything is written."""
    hint = "Use a complete Qwen checkpoint whose config.json describes its weights."
    for t in plan:
        found = source.info(t.source)
        if found is None:
            raise UsageError(f"{t.source} is missing from {what}.", hint)
        if found.dtype not in READABLE and not found.dtype.startswith("GGUF:"):
            raise UsageError(
                f"{t.source} in {what} is stored as {found.dtype}, which qwen-tui cannot read.",
                "Use a checkpoint in float32, float16 or bfloat16.",
            )
        if t.rows:
            fits = found.shape[1:] == t.shape[1:] and t.rows[1] <= found.shape[0]
        else:
            fits = found.shape == t.shape
        if not fits:
            raise UsageError(
                f"{t.source} in {what} is {list(found.shape)}; this model's config.json "
                f"makes it {list(t.shape)}.",
                hint,
            )
        if t.store != "f32" and t.shape[-1] % 64:
            raise UsageError(
                f"{t.source} in {what} is {t.shape[-1]} wide, not a multiple of 64, which "
                "qwen-tui's formats need.",
                "Use a standard Qwen model.",
            )


def layout_of(plan: list[Planned], dims: ModelDims, recipe: Recipe) -> dict[str, Any]:
    """qwen-tui-lowbit.json: the format of every quantized layer and how the embedding is kept
    (a tied table shares the head's bytes)."""
    modules = {
        t.name.removesuffix(".weight"): t.store
        for t in plan
        if t.store != "f32" and t.role != "token_embd"
    }
    head = next(t for t in plan if t.role == "output")
    embedding: dict[str, str | None]
    if dims.tied:
        embedding = {"format": head.store, "shared_with": head.name.removesuffix(".weight")}
    else:
        embedding = {"format": recipe.embedding, "shared_with": None}
    return {"recipe": recipe.to_dict(), "modules": modules, "embedding": embedding}


def quantize_stream(
    source: TensorSource,
    plan: list[Planned],
    folder: Path,
    *,
    threads: int,
    on_tensor: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Write ``folder/model.safetensors`` from ``source`` by ``plan``; its sha256. A tensor is
    read, quantized and written a chunk of rows at a time (quantized blocks never cross a row),
    so no tensor is ever whole in memory, however large."""
    writer = StoreWriter(folder / WEIGHTS, plan)
    try:
        for done, t in enumerate(plan, 1):
            first, last = t.rows or (0, t.shape[0])
            width = int(np.prod(t.shape[1:])) if len(t.shape) > 1 else 1
            step = max(1, CHUNK_VALUES // width)
            writer.begin(t)
            for start in range(first, last, step):
                with source.read(t.source, (start, min(start + step, last))) as data:
                    writer.part(stored_rows(t, data, threads, source))
            writer.end(t)
            if on_tensor:
                on_tensor(done, len(plan))
            if cancel is not None and cancel.is_set():
                raise Cancelled("Quantization cancelled; nothing was kept.", "Start it again.")
        return writer.finish()
    finally:
        writer.close()


def stored_rows(t: Planned, data: TensorData, threads: int, source: TensorSource) -> np.ndarray:
    """Rows of ``t`` as the store keeps them: float32, or quantized blocks; a value that is not
    a number is refused (it would make a model that writes garbage)."""
    from ..engine.kernels.weights import quantize_weight

    rows = data.array.shape[0]
    if t.store == "f32":
        payload = as_float32(data).reshape(-1)
        bad = int(np.count_nonzero(~np.isfinite(payload)))
    else:
        values = as_float32(data) if data.kind == "f64" else np.ascontiguousarray(data.array)
        kind = "f32" if data.kind == "f64" else data.kind
        payload = quantize_weight(t.store, values, rows, t.shape[1], packed=False,
                                  threads=threads, src_dtype=kind)  # fmt: skip
        bad = _not_finite(values, kind)
    if bad:
        raise UsageError(
            f"{t.source} in {source.where} holds {bad} values that are not numbers (NaN or "
            "infinity).",
            "Download the model again; the file may be damaged.",
        )
    return payload


def _not_finite(values: np.ndarray, kind: str) -> int:
    if kind == "bf16":  # exponent all ones: infinity or NaN
        return int(np.count_nonzero((values & 0x7F80) == 0x7F80))
    return int(np.count_nonzero(~np.isfinite(values)))


def as_float32(data: TensorData) -> np.ndarray:
    """The values widened (or, from float64, rounded) to float32 exactly as torch's ``.to``."""
    a = data.array
    if data.kind == "bf16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return np.ascontiguousarray(a, dtype=np.float32)


class StoreWriter:
    """``model.safetensors`` written in plan order: the header first (every tensor's size is
    known from the plan), then each tensor as it comes; the file's sha256 as it is written."""

    def __init__(self, path: Path, plan: list[Planned]) -> None:
        self.path, self.plan = path, plan
        self.size = weights_file_bytes(plan)
        self.sha = hashlib.sha256()
        self.next = 0
        self.written = 0
        self.fh: BinaryIO = open(path, "wb")
        _reserve(self.fh, self.size)
        self._put(weights_header(plan))

    def _put(self, data: bytes | memoryview) -> None:
        self.fh.write(data)
        self.sha.update(data)

    def begin(self, t: Planned) -> None:
        if t is not self.plan[self.next]:
            raise RuntimeError(f"{t.name}: written out of the plan's order")
        self.written = 0

    def part(self, payload: np.ndarray) -> None:
        data = np.ascontiguousarray(payload).view(np.uint8).reshape(-1).data
        self._put(data)
        self.written += data.nbytes

    def end(self, t: Planned) -> None:
        if self.written != t.nbytes:
            raise RuntimeError(f"{t.name}: {self.written} bytes written, not {t.nbytes}")
        self.next += 1

    def finish(self) -> str:
        if self.next != len(self.plan):
            raise RuntimeError("the store was closed before every tensor was written")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        return self.sha.hexdigest()

    def close(self) -> None:
        self.fh.close()


def _reserve(fh: BinaryIO, size: int) -> None:
    """Claim the file's whole size now: a full disk says so before the work, not after."""
    try:
        os.posix_fallocate(fh.fileno(), 0, size)
    except OSError as exc:
        if exc.errno in (28,):  # ENOSPC
            raise
    except AttributeError:  # not on every platform; the disk was checked before
        pass


def plan_for(family: FamilySpec, config: dict, recipe: Recipe) -> tuple[ModelDims, list[Planned]]:
    dims = family.dims(config)
    return dims, family.plan(dims, recipe)


def stream_folder(
    source: TensorSource,
    config: dict,
    family: FamilySpec,
    recipe: Recipe,
    tmp: Path,
    *,
    threads: int,
    on_tensor: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """The weights, their layout and config.json of a store folder, from ``source``; the
    layout (what ``qwen-tui-lowbit.json`` says), with what of the source was left out
    (``skipped``, for the manifest) where something was."""
    dims, plan = plan_for(family, config, recipe)
    check_plan(source, plan, str(source.where))
    quantize_stream(source, plan, tmp, threads=threads, on_tensor=on_tensor, cancel=cancel)
    layout = write_layout(tmp, plan, dims, recipe, config)
    skipped = skipped_weights(source, family, dims)
    return {**layout, "skipped": skipped} if skipped else layout


def skipped_weights(
    source: TensorSource, family: FamilySpec, dims: ModelDims
) -> dict[str, dict[str, int]]:
    """What the source holds that the model does not run (a vision tower, MTP layers: the
    family's ``skipped``), by what it is: {what: {"tensors": n, "bytes": in the source}}."""
    out: dict[str, dict[str, int]] = {}
    for tensor in source.held():
        what = family.skipped_part(tensor.name, dims.layers)
        if what is not None:
            part = out.setdefault(what, {"tensors": 0, "bytes": 0})
            part["tensors"] += 1
            part["bytes"] += tensor.nbytes
    return out


def write_layout(
    folder: Path, plan: list[Planned], dims: ModelDims, recipe: Recipe, config: dict
) -> dict[str, Any]:
    """``qwen-tui-lowbit.json`` and config.json beside the weights written by ``plan``; the
    layout."""
    layout = layout_of(plan, dims, recipe)
    (folder / LAYOUT).write_text(json.dumps(layout, indent=2), encoding="utf-8")
    # the head is stored apart from the table (a tied table shares the head's bytes instead)
    stored = {**config, "tie_word_embeddings": False, "torch_dtype": "float32"}
    (folder / "config.json").write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
    return layout
