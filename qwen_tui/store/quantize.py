"""Quantize a Hugging Face folder (or a GGUF file) into the model store, by a recipe.

Both are read one tensor at a time (``stream.py``: no model is ever built, a GGUF is never
unpacked to disk); a folder that runs its own code or holds only ``.bin`` files goes through
the whole float model instead (``whole_model.py``); a folder bigdl-llm's save_low_bit wrote is
converted as it is (``lowbit_import``). Everything is written into a ``.tmp-*`` folder, sealed
with a manifest and renamed into place only when complete (``seal.py``), so an interrupted run
never leaves anything that looks ready.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .. import paths
from ..catalog import DEFAULT_LOW_BIT, LOW_BIT_FORMATS
from ..engine.runtime.cpus import default_threads
from ..errors import UsageError
from ..families import BY_NAME
from ..manifest import Manifest, write_manifest
from ..recipes import RECIPES
from ..remote_code import check_remote_code
from . import local
from .lowbit_import import saved_format
from .progress import Progress, ProgressCallback, ignore_progress
from .resources import check_disk, check_memory
from .seal import STEPS, store
from .source import (
    copy_support_files,
    estimate_needs,
    family_of,
    has_safetensors,
    read_source_config,
    weights_size,
)
from .sources.safetensors import SafetensorsSource
from .stream import stream_folder
from .whole_model import quantize_and_save

__all__ = ["STEPS", "quantize_folder", "store"]


def quantize_folder(
    src: Path,
    name: str,
    low_bit: str = DEFAULT_LOW_BIT,
    *,
    source: str | None = None,
    commit: str | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback = ignore_progress,
    cancel: threading.Event | None = None,
    root: Path | None = None,
    force: bool = False,
    measure: bool = True,
) -> local.LocalModel:
    """Quantize ``src`` (a Hugging Face folder or a GGUF file) by the recipe ``low_bit`` and
    store it as ``<name>-<low_bit>``. An existing model of that name is replaced only with
    ``force``. With ``measure``, the quality against ``src`` is recorded in the manifest.
    A folder bigdl-llm's save_low_bit wrote is converted as it is (its own format, which
    ``low_bit`` must name), with bigdl-llm's bytes (``lowbit_import``)."""
    src = Path(src).expanduser().resolve()
    own = saved_format(src) if src.is_dir() else None
    if own is None and low_bit not in LOW_BIT_FORMATS:
        raise UsageError(
            f"Unknown low-bit format '{low_bit}'.", f"Use one of {', '.join(LOW_BIT_FORMATS)}."
        )
    name = local.validate_name(name)
    root = root or paths.models_dir()
    target = root / local.folder_name(name, own or low_bit)
    if target.exists() and not force:
        raise UsageError(
            f"A model named {target.name} already exists.",
            "Pass --force to replace it, or choose another --name.",
        )
    if own is not None:
        from .lowbit_import.convert import convert_folder

        return convert_folder(
            src, name, target, low_bit=low_bit, source=source, commit=commit,
            progress=progress, cancel=cancel,
        )  # fmt: skip
    if src.is_file():
        return _quantize_gguf(
            src, name, low_bit, target, source=source, commit=commit, progress=progress,
            cancel=cancel, measure=measure,
        )  # fmt: skip
    if not src.is_dir():
        raise UsageError(f"{src} does not exist.", "Check the path.")
    config = read_source_config(src)
    family = family_of(config, src)
    _refuse_undecoded(src, family)
    remote_code = check_remote_code(config, src, trust_remote_code)
    if remote_code and "." in name:
        raise UsageError(
            f"'{name}' has a dot, which models that run their own code cannot have.",
            f"Use a name like '{name.replace('.', '_')}'.",
        )
    if not weights_size(src):
        raise UsageError(f"{src} has no weight files.", "Download the model completely first.")
    progress(Progress("check", 0, STEPS, detail="checking disk and memory"))
    target.parent.mkdir(parents=True, exist_ok=True)
    whole_model = remote_code or not has_safetensors(src)  # code of its own, or .bin files
    if whole_model and not BY_NAME[family].bigdl:  # that path builds the model in bigdl-llm
        raise UsageError(
            f"{src} holds a {BY_NAME[family].title} model without safetensors files, and "
            "qwen-tui reads such models only from safetensors.",
            "Download the model's safetensors release.",
        )
    disk, ram = estimate_needs(config, src, low_bit, measure=measure, whole_model=whole_model)
    check_disk(target.parent, disk, f"store {name}")
    check_memory(ram, f"quantize {name}")

    def fill(tmp: Path, on_tensor: Callable[[int, int], None]) -> dict:
        if whole_model:
            layout = quantize_and_save(src, tmp, low_bit, remote_code, family, on_tensor, progress)
        else:  # tensor by tensor: no model is built
            layout = stream_folder(
                SafetensorsSource(src), config, BY_NAME[family], RECIPES[low_bit], tmp,
                threads=default_threads(), on_tensor=on_tensor, cancel=cancel,
            )  # fmt: skip
        copy_support_files(src, tmp, code=remote_code)
        return layout

    stored = Manifest(
        name=name, low_bit=low_bit, family=family, source=source or str(src), commit=commit,
        remote_code=remote_code, files=(),
    )  # fmt: skip
    return store(stored, target, fill, _quality_against(src) if measure else None, progress,
                 cancel)  # fmt: skip


def _quantize_gguf(
    src: Path,
    name: str,
    low_bit: str,
    target: Path,
    *,
    source: str | None,
    commit: str | None,
    progress: ProgressCallback,
    cancel: threading.Event | None,
    measure: bool,
) -> local.LocalModel:
    """A GGUF file: its tensors quantized one at a time straight from the file (nothing is
    unpacked to disk), its tokenizer and chat template from its metadata."""
    from .gguf_import import is_gguf
    from .gguf_import.convert import generation_config, hf_config
    from .gguf_import.read import open_gguf
    from .gguf_import.tokenizer import write_tokenizer
    from .sources.gguf import GgufSource

    if not is_gguf(src):
        raise UsageError(
            f"{src} is neither a model folder nor a GGUF file.",
            "Point at a Hugging Face folder (with config.json) or a .gguf file.",
        )
    gf = open_gguf(src)  # refuses other architectures, and hostile files, before any work
    config = hf_config(gf)
    family = family_of(config, src)
    _refuse_undecoded(src, family)
    progress(Progress("check", 0, STEPS, detail="checking disk and memory"))
    target.parent.mkdir(parents=True, exist_ok=True)
    disk, ram = estimate_needs(config, src, low_bit, measure=measure)
    check_disk(target.parent, disk, f"store {name}")
    check_memory(ram, f"quantize {name}")

    def fill(tmp: Path, on_tensor: Callable[[int, int], None]) -> dict:
        write_tokenizer(gf, tmp, config["max_position_embeddings"])
        (tmp / "generation_config.json").write_text(
            json.dumps(generation_config(gf), indent=2), encoding="utf-8"
        )
        return stream_folder(
            GgufSource(src, gf), config, BY_NAME[family], RECIPES[low_bit], tmp,
            threads=default_threads(), on_tensor=on_tensor, cancel=cancel,
        )  # fmt: skip

    stored = Manifest(
        name=name, low_bit=low_bit, family=family, source=source or str(src), commit=commit,
        remote_code=False, files=(),
    )  # fmt: skip
    return store(stored, target, fill, _quality_against(src) if measure else None, progress,
                 cancel)  # fmt: skip


def _quality_against(src: Path) -> Callable[[Path, Manifest], Manifest]:
    return lambda target, manifest: _record_quality(target, src, manifest)


def _refuse_undecoded(src: Path, family: str) -> None:
    if not BY_NAME[family].decoded:
        raise UsageError(
            f"{src} holds a {family} model, which qwen-tui computes only as a float reference "
            "for now: its decoder cannot run it yet.",
            "Use a Qwen3 or Qwen2.5 model.",
        )


def _record_quality(target: Path, src: Path, manifest: Manifest) -> Manifest:
    """Measure the stored model against its float source and add it to the manifest. A
    measurement that fails leaves the model as it is (usable, quality unknown)."""
    from ..eval.gate import measure_quality

    try:
        quality = measure_quality(target, src)
    except MemoryError:
        return manifest
    except Exception as exc:  # the model is stored and whole; say what failed, keep it
        quality = {"error": f"{type(exc).__name__}: {exc}"}
    manifest = replace(manifest, quality=quality)
    write_manifest(target, manifest)
    return manifest
