"""Quantize a Hugging Face folder (or a GGUF file) into the model store, by a recipe.

Both are read one tensor at a time (``stream.py``: no model is ever built, a GGUF is never
unpacked to disk); a folder that runs its own code or holds only ``.bin`` files goes through
the whole float model instead (``whole_model.py``). Everything is written into a ``.tmp-*``
folder, sealed with a manifest and renamed into place only when complete, so an interrupted
run never leaves anything that looks ready.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .. import paths
from ..catalog import DEFAULT_LOW_BIT, LOW_BIT_FORMATS
from ..engine.runtime.cpus import default_threads
from ..errors import Cancelled, QuantizeFailed, QwenTuiError, UsageError
from ..families import BY_NAME
from ..manifest import Manifest, now, package_versions, scan_files, write_manifest
from ..recipes import RECIPES
from ..remote_code import check_remote_code
from . import local
from .progress import Progress, ProgressCallback, ignore_progress
from .removal import remove_tree
from .resources import check_disk, check_memory
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

STEPS = 5


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
    ``force``. With ``measure``, the quality against ``src`` is recorded in the manifest."""
    src = Path(src).expanduser().resolve()
    if low_bit not in LOW_BIT_FORMATS:
        raise UsageError(
            f"Unknown low-bit format '{low_bit}'.", f"Use one of {', '.join(LOW_BIT_FORMATS)}."
        )
    name = local.validate_name(name)
    root = root or paths.models_dir()
    target = root / local.folder_name(name, low_bit)
    if target.exists() and not force:
        raise UsageError(
            f"A model named {target.name} already exists.",
            "Pass --force to replace it, or choose another --name.",
        )
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
    return store(stored, target, fill, src if measure else None, progress, cancel)


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
    return store(stored, target, fill, src if measure else None, progress, cancel)


def _refuse_undecoded(src: Path, family: str) -> None:
    if not BY_NAME[family].decoded:
        raise UsageError(
            f"{src} holds a {family} model, which qwen-tui computes only as a float reference "
            "for now: its decoder cannot run it yet.",
            "Use a Qwen3 or Qwen2.5 model.",
        )


def store(
    stored: Manifest,
    target: Path,
    fill: Callable[[Path, Callable[[int, int], None]], dict],
    reference: Path | None,
    progress: ProgressCallback,
    cancel: threading.Event | None,
) -> local.LocalModel:
    """Fill a staging folder (``fill``), check its tokenizer, seal it with a manifest and
    rename it into place; then, against ``reference``, measure its quality. An interrupted or
    failed run leaves nothing that looks ready."""
    root, name = target.parent, stored.name
    local.sweep_stale(root)
    # Stage under the final folder name: transformers names remote-code modules after it.
    staging = root / f"{local.TMP_PREFIX}staging-{os.getpid()}"
    tmp = staging / target.name
    remove_tree(staging, root)
    tmp.mkdir(parents=True)
    try:
        _raise_if(cancel)

        def on_tensor(done: int, total: int) -> None:
            _raise_if(cancel)
            detail = f"tensor {done} of {total} to {stored.low_bit}"
            progress(Progress("quantize", 1, STEPS, detail=detail))

        progress(Progress("quantize", 1, STEPS, detail=f"reading {Path(stored.source).name}"))
        from ..engine.runtime.torch_thread import torch_thread

        # on the one thread every compute call uses (engine/runtime/torch_thread.py): a second
        # thread starting OpenMP work would slow every later reply of the app
        layout = torch_thread.run(lambda: fill(tmp, on_tensor))
        _raise_if(cancel)
        progress(Progress("verify", 3, STEPS, detail="checking the tokenizer and hashing files"))
        _check_tokenizer(tmp, stored.family, stored.remote_code)
        manifest = replace(
            stored, files=scan_files(tmp), versions=package_versions(), created_at=now(),
            recipe=layout["recipe"],
        )  # fmt: skip
        write_manifest(tmp, manifest)
        _raise_if(cancel)
        _swap_into_place(tmp, target)
        if reference is not None:
            progress(Progress("verify", 4, STEPS, detail="measuring quality against the source"))
            manifest = _record_quality(target, reference, manifest)
    except QwenTuiError:  # a sentence already (a bad source, a cancel, ...)
        raise
    except MemoryError:
        raise QuantizeFailed(
            f"Ran out of memory while quantizing {name}.", "Close other programs."
        ) from None
    except OSError as exc:
        raise QuantizeFailed(
            f"Could not write {name}: {exc.strerror or exc}.", "Check free disk."
        ) from exc
    except Exception as exc:  # bigdl-llm and transformers raise many kinds
        raise QuantizeFailed(
            f"Quantizing {name} failed: {type(exc).__name__}: {exc}.",
            "Check that the source holds a complete Qwen chat model.",
        ) from exc
    finally:
        remove_tree(staging, root)
    progress(Progress("done", STEPS, STEPS, detail=str(target)))
    return local.LocalModel(target.name, target, manifest)


def _record_quality(target: Path, src: Path, manifest: Manifest) -> Manifest:
    """Measure the stored model against its float source and add it to the manifest. A
    measurement that fails leaves the model as it is (usable, quality unknown)."""
    from dataclasses import replace

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


def _raise_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Quantization cancelled; nothing was kept.", "Start it again any time.")


def _check_tokenizer(folder: Path, family: str, remote_code: bool) -> None:
    from ..engine.models import load_tokenizer

    load_tokenizer(folder, family, trust_remote_code=remote_code)


def _swap_into_place(tmp: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f"{local.TMP_PREFIX}old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        remove_tree(old, target.parent)
    else:
        os.replace(tmp, target)
