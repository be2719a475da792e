"""Quantize a Hugging Face folder (or a GGUF file) into the model store, by a recipe.

A GGUF file is first written out as a float Hugging Face folder (``gguf_import``). The float
model is loaded with transformers, quantized layer by layer into bigdl-llm's formats
(``engine/bigdl/lowbit``), and saved with its layout. Everything is written into a ``.tmp-*``
folder, sealed with a manifest and renamed into place only when complete, so an
interrupted run never leaves anything that looks ready.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import paths
from ..catalog import DEFAULT_LOW_BIT, LOW_BIT_FORMATS
from ..errors import Cancelled, QuantizeFailed, UsageError
from ..manifest import Manifest, now, package_versions, scan_files, write_manifest
from ..recipes import RECIPES
from ..remote_code import check_remote_code
from ..sizes import MB
from . import local
from .progress import Progress, ProgressCallback, ignore_progress
from .removal import remove_tree
from .resources import check_disk, check_memory
from .source import (
    copy_support_files,
    estimate_needs,
    family_of,
    read_source_config,
    weights_size,
)

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
            src, name, low_bit, root=root, progress=progress, cancel=cancel, force=force,
            measure=measure, source=source, commit=commit,
        )  # fmt: skip
    if not src.is_dir():
        raise UsageError(f"{src} does not exist.", "Check the path.")
    config = read_source_config(src)
    family = family_of(config, src)
    remote_code = check_remote_code(config, src, trust_remote_code)
    if remote_code and "." in name:
        raise UsageError(
            f"'{name}' has a dot, which models that run their own code cannot have.",
            f"Use a name like '{name.replace('.', '_')}'.",
        )
    if not weights_size(src):
        raise UsageError(f"{src} has no weight files.", "Download the model completely first.")

    progress(Progress("check", 0, STEPS, detail="checking disk and memory"))
    root.mkdir(parents=True, exist_ok=True)
    disk, ram = estimate_needs(config, src, low_bit)
    check_disk(root, disk, f"store {name}")
    check_memory(ram, f"quantize {name}")
    local.sweep_stale(root)

    # Stage under the final folder name: transformers names remote-code modules after it.
    staging = root / f"{local.TMP_PREFIX}staging-{os.getpid()}"
    tmp = staging / target.name
    remove_tree(staging, root)
    tmp.mkdir(parents=True)
    try:
        _raise_if(cancel)

        def on_layer(done: int, total: int) -> None:
            _raise_if(cancel)
            progress(Progress("quantize", 1, STEPS, detail=f"layer {done} of {total} to {low_bit}"))

        progress(Progress("quantize", 1, STEPS, detail=f"loading {src.name}"))
        from ..engine.runtime.torch_thread import torch_thread

        # on the one thread every torch call uses (engine/runtime/torch_thread.py): a second thread
        # starting OpenMP work would slow every later reply of the app
        layout = torch_thread.run(
            lambda: _quantize_and_save(src, tmp, low_bit, remote_code, family, on_layer, progress)
        )
        copy_support_files(src, tmp, code=remote_code)
        _raise_if(cancel)
        progress(Progress("verify", 3, STEPS, detail="checking the tokenizer and hashing files"))
        _check_tokenizer(tmp, family, remote_code)
        manifest = Manifest(
            name=name,
            low_bit=low_bit,
            family=family,
            source=source or str(src),
            commit=commit,
            remote_code=remote_code,
            files=scan_files(tmp),
            versions=package_versions(),
            created_at=now(),
            recipe=layout["recipe"],
        )
        write_manifest(tmp, manifest)
        _raise_if(cancel)
        _swap_into_place(tmp, target)
        if measure:
            progress(Progress("verify", 4, STEPS, detail="measuring quality against the source"))
            manifest = _record_quality(target, src, manifest)
    except (Cancelled, QuantizeFailed):
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
            "Check that the folder holds a complete Qwen chat model.",
        ) from exc
    finally:
        remove_tree(staging, root)
    progress(Progress("done", STEPS, STEPS, detail=str(target)))
    return local.LocalModel(target.name, target, manifest)


def _quantize_gguf(
    src: Path,
    name: str,
    low_bit: str,
    *,
    root: Path,
    progress: ProgressCallback,
    cancel: threading.Event | None,
    force: bool,
    measure: bool,
    source: str | None = None,
    commit: str | None = None,
) -> local.LocalModel:
    """A GGUF file: written out as a float folder beside the store, quantized (its quality
    measured against that folder, the GGUF's own weights), removed. ``source`` and ``commit``
    say where the file came from (default: its path)."""
    from .gguf_import import convert_gguf, is_gguf
    from .gguf_import.read import open_gguf

    if not is_gguf(src):
        raise UsageError(
            f"{src} is neither a model folder nor a GGUF file.",
            "Point at a Hugging Face folder (with config.json) or a .gguf file.",
        )
    gf = open_gguf(src)  # refuses other architectures before any work
    floats = sum(t.n_elements for t in gf.header.tensors) * 4
    root.mkdir(parents=True, exist_ok=True)
    check_disk(root, floats + 64 * MB, f"unpack {src.name}")
    staging = root / f"{local.TMP_PREFIX}gguf-{os.getpid()}"
    remove_tree(staging, root)
    try:

        def on_tensor(done: int, total: int) -> None:
            progress(Progress("check", 0, STEPS, detail=f"unpacking {src.name}: {done}/{total}"))

        convert_gguf(src, staging, on_tensor=on_tensor, cancel=cancel)
        return quantize_folder(
            staging,
            name,
            low_bit,
            source=source or str(src),
            commit=commit,
            root=root,
            progress=progress,
            cancel=cancel,
            force=force,
            measure=measure,
        )
    except OSError as exc:
        raise QuantizeFailed(
            f"Could not unpack {src.name}: {exc.strerror or exc}.", "Check free disk."
        ) from exc
    finally:
        remove_tree(staging, root)


def _record_quality(target: Path, src: Path, manifest: Manifest) -> Manifest:
    """Measure the stored model against its float source and add it to the manifest. A
    measurement that fails leaves the model as it is (usable, quality unknown)."""
    from dataclasses import replace

    from ..eval.gate import measure_quality

    try:
        quality = measure_quality(target, src, trust_remote_code=manifest.remote_code)
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


def _quantize_and_save(
    src: Path,
    tmp: Path,
    low_bit: str,
    remote_code: bool,
    family: str,
    on_layer: Callable[[int, int], None],
    progress: ProgressCallback,
) -> dict:
    from ..engine.bigdl.lowbit import io as lowbit_io

    model, layout = _load_and_quantize(src, low_bit, remote_code, family, on_layer)
    progress(Progress("save", 2, STEPS, detail="saving"))
    lowbit_io.save(model, layout, tmp)
    return layout


def _load_and_quantize(
    src: Path, low_bit: str, remote_code: bool, family: str, on_layer: Callable[[int, int], None]
) -> tuple[Any, dict]:
    import torch
    from transformers import AutoModelForCausalLM

    from ..engine.bigdl.lowbit.build import quantize_model
    from ..engine.runtime.quiet import bigdl_auto_model

    bigdl_auto_model()  # imports bigdl-llm once, without its logging side effects
    model = AutoModelForCausalLM.from_pretrained(
        str(src),
        trust_remote_code=remote_code,
        torch_dtype=torch.float32,
        local_files_only=True,
        # Qwen-1 code on CPU: flash-attn, which bf16 configs switch on, is not for us.
        **({"use_flash_attn": False} if family == "qwen" else {}),
    )
    model.eval()
    with torch.inference_mode():
        layout = quantize_model(model, RECIPES[low_bit], on_layer)
    return model, layout


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
