"""The step every store folder is made by: fill a staging folder, check its tokenizer, seal it
with a manifest and rename it into place; then measure its quality against its source.

Quantizing a folder or a GGUF file (``quantize.py``), converting a save_low_bit folder
(``lowbit_import``) and bench's synthetic models all end here, so an interrupted or failed run
never leaves anything that looks ready. This module reaches no torch: the work ``fill`` does
decides what it imports.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import Cancelled, QuantizeFailed, QwenTuiError
from ..manifest import Manifest, now, package_versions, scan_files, write_manifest
from . import local
from .progress import Progress, ProgressCallback
from .removal import remove_tree

STEPS = 5


def store(
    stored: Manifest,
    target: Path,
    fill: Callable[[Path, Callable[[int, int], None]], dict],
    measure: Callable[[Path, Manifest], Manifest] | None,
    progress: ProgressCallback,
    cancel: threading.Event | None,
) -> local.LocalModel:
    """Fill a staging folder (``fill``), check its tokenizer, seal it with a manifest and
    rename it into place; then ``measure`` its quality (the manifest it returns is the
    model's). An interrupted or failed run leaves nothing that looks ready."""
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
            recipe=layout["recipe"], skipped=layout.get("skipped"),
        )  # fmt: skip
        write_manifest(tmp, manifest)
        _raise_if(cancel)
        _swap_into_place(tmp, target)
        if measure is not None:
            progress(Progress("verify", 4, STEPS, detail="measuring quality against the source"))
            manifest = measure(target, manifest)
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
