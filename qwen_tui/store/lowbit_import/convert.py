"""Convert a ``save_low_bit`` folder into a store folder, a tensor at a time.

The weights are read straight from the folder's files (``pytorch_model.bin`` without torch:
``sources/torch_zip.py``; or safetensors), a piece of a tensor mapped at a time, and written in
the plan's order by the streaming quantizer's ``StoreWriter``: bigdl-llm's bytes of a layer
copied as they are, a float tensor quantized or widened by the quantizer's own ``stored_rows``.
The folder is then sealed and renamed into place by ``quantize.store``, as every store folder
is, so an interrupted conversion leaves nothing that looks ready. The source is only read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...engine.runtime.cpus import default_threads
from ...errors import UsageError
from ...manifest import Manifest
from ...remote_code import needs_remote_code
from ...sizes import CHUNK_VALUES
from .. import local
from ..progress import ProgressCallback, ignore_progress
from ..resources import check_disk
from ..source import SUPPORT_FILES, copy_support_files, read_source_config
from ..sources.mapped import MappedSource
from ..sources.safetensors import SafetensorsSource
from ..sources.torch_zip import TorchZipSource, bin_files
from ..stream import WEIGHTS, StoreWriter, stored_rows, write_layout
from ..weights_header import weights_file_bytes
from . import LOW_BIT_KEY
from .plan import Conversion, Step, check_tokenizer, plan_conversion

PIECE = 16 << 20  # bytes of bigdl-llm's blocks copied at a time
BIGDL_KEYS = (LOW_BIT_KEY, "bigdl_lcmu_enabled")  # config.json keys only load_low_bit reads
ORIGIN = "bigdl-llm save_low_bit"


def open_weights(folder: Path) -> MappedSource:
    """The folder's tensors: its safetensors files, or its PyTorch checkpoint."""
    if any(folder.glob("*.safetensors")):
        return SafetensorsSource(folder)
    if bin_files(folder):
        return TorchZipSource(folder)
    raise UsageError(
        f"{folder} has no weights (no pytorch_model.bin).",
        "Point at the folder bigdl-llm's save_low_bit wrote.",
    )


def read_folder(src: Path) -> tuple[dict, MappedSource, Conversion]:
    """The folder's config, its tensors and what converting does to each, all checked."""
    config = read_source_config(src)
    if needs_remote_code(config):
        raise UsageError(
            f"{src} runs its own Python code (auto_map in config.json), which a converted copy "
            "would not run.",
            "Quantize the original float model with `qwen-tui quantize --trust-remote-code`.",
        )
    weights = open_weights(src)
    return config, weights, plan_conversion(weights, config, src)


def convert_folder(
    src: Path,
    name: str,
    target: Path,
    *,
    low_bit: str | None = None,
    source: str | None = None,
    commit: str | None = None,
    fingerprint: str = "",
    progress: ProgressCallback = ignore_progress,
    cancel: threading.Event | None = None,
) -> local.LocalModel:
    """Convert the save_low_bit folder ``src`` into the store folder ``target`` (replacing
    it); refused in one sentence, with nothing written, where a tensor is missing, cut short
    or of a type or format qwen-tui does not run, or where ``low_bit`` is not its format."""
    from ..seal import store

    src = Path(src).expanduser().resolve()
    config, weights, conversion = read_folder(src)
    if low_bit is not None and low_bit != conversion.low_bit:
        raise UsageError(
            f"{src} is already quantized, by bigdl-llm, in {conversion.low_bit}; qwen-tui "
            f"converts it as it is, so it cannot be {low_bit}.",
            f"Choose {conversion.low_bit} (or no format), or quantize the original float model "
            f"to {low_bit}.",
        )
    check_tokenizer(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    check_disk(target.parent, weights_file_bytes(conversion.plan) + SUPPORT_FILES, f"store {name}")
    stored_config = {k: v for k, v in config.items() if k not in BIGDL_KEYS}

    def fill(tmp: Path, on_tensor: Callable[[int, int], None]) -> dict:
        write_weights(weights, conversion, tmp, threads=default_threads(), on_tensor=on_tensor)
        layout = write_layout(
            tmp, conversion.plan, conversion.dims, conversion.recipe, stored_config
        )
        copy_support_files(src, tmp, code=False)
        return layout

    converted = {"from": ORIGIN, "path": str(src), "fingerprint": fingerprint,
                 "summary": conversion.summary()}  # fmt: skip
    stored = Manifest(
        name=name, low_bit=conversion.low_bit, family=conversion.family,
        source=source or str(src), commit=commit, remote_code=False, files=(),
        converted=converted,
    )  # fmt: skip
    return store(stored, target, fill, None, progress, cancel)


def write_weights(
    source: MappedSource,
    conversion: Conversion,
    folder: Path,
    *,
    threads: int,
    on_tensor: Callable[[int, int], None] | None = None,
) -> str:
    """``folder/model.safetensors`` by the conversion's plan; its sha256."""
    writer = StoreWriter(folder / WEIGHTS, conversion.plan)
    try:
        for done, step in enumerate(conversion.steps, 1):
            writer.begin(step.tensor)
            if step.kept:
                _copy(source, step, writer)
            else:
                _quantize(source, step, writer, threads)
            writer.end(step.tensor)
            if on_tensor:
                on_tensor(done, len(conversion.steps))
        return writer.finish()
    finally:
        writer.close()


def _copy(source: MappedSource, step: Step, writer: StoreWriter) -> None:
    """bigdl-llm's blocks of a layer, whole rows a piece at a time, as they are."""
    t = step.tensor
    row_bytes = t.nbytes // t.shape[0]
    first, last = step.rows or (0, t.shape[0])
    per = max(1, PIECE // row_bytes)
    for start in range(first, last, per):
        stop = min(start + per, last)
        with source.read_bytes(step.source, start * row_bytes, stop * row_bytes) as raw:
            writer.part(raw)


def _quantize(source: MappedSource, step: Step, writer: StoreWriter, threads: int) -> None:
    """A float tensor, quantized (or widened to float32) a chunk of rows at a time, as the
    streaming quantizer does."""
    t = step.tensor
    first, last = step.rows or (0, t.shape[0])
    width = int(np.prod(t.shape[1:])) if len(t.shape) > 1 else 1
    per = max(1, CHUNK_VALUES // width)
    for start in range(first, last, per):
        with source.read(step.source, (start, min(start + per, last))) as data:
            writer.part(stored_rows(t, data, threads, source))
