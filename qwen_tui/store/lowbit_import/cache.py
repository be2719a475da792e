"""The converted copy a ``save_low_bit`` folder is opened from.

``engine/open.py`` opens such a folder (in the store, from an earlier qwen-tui, or anywhere by
``--model-path``) through a store folder converted from it once, in ``paths.converted_dir()``:
one per original path, remade when the original's files change (their names, sizes and times,
the ``fingerprint``), removed with the original (``rm``) or once the original is gone. The
original is never written to.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ... import paths
from ...families import family_for
from ...manifest import MANIFEST, problems, read_manifest, verify
from ...recipes import BLOCK_BYTES
from ...remote_code import needs_remote_code
from ..removal import remove_file, remove_tree
from . import saved_format


def why_not(folder: Path) -> str | None:
    """Why the save_low_bit ``folder`` cannot be converted, from its config.json alone (the
    tensors are checked while converting); None when it can."""
    fmt = saved_format(folder)
    if fmt is None:
        return "it is not a folder bigdl-llm's save_low_bit wrote"
    if fmt not in BLOCK_BYTES:
        return f"its layers are in bigdl-llm's {fmt}, which qwen-tui's kernels do not run"
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    family = family_for(str(config.get("model_type")))
    if family is None:
        return f"qwen-tui has no decoder for model_type {config.get('model_type')!r}"
    if needs_remote_code(config):
        return "the model runs its own code"
    return family.refuse(config)


def copy_path(folder: Path) -> Path:
    """Where the converted copy of ``folder`` lives (one per original path)."""
    folder = Path(folder).resolve()
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return paths.converted_dir() / f"{re.sub(r'[^A-Za-z0-9._-]', '_', folder.name)}-{key}"


def fingerprint(folder: Path) -> str:
    """The original's files as they are now: names, sizes and modification times."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def converted_copy(folder: Path) -> tuple[Path, str]:
    """The store folder converted from the save_low_bit ``folder``, made now if it is missing,
    damaged or older than the original's files; and one line saying what converting did (""
    when the copy was there already)."""
    from .convert import convert_folder

    folder = Path(folder).resolve()
    target, now = copy_path(folder), fingerprint(folder)
    kept = read_manifest(target)
    if kept and (kept.converted or {}).get("fingerprint") == now and not problems(target, kept):
        return target, ""
    # a store folder of an earlier qwen-tui is whole first (its manifest's sizes)
    original = verify(folder) if (folder / MANIFEST).exists() else None
    name = original.name if original else re.sub(r"[^A-Za-z0-9._-]", "_", folder.name)
    model = convert_folder(
        folder, name.lstrip(".") or "model", target, fingerprint=now,
        source=original.source if original else None,
        commit=original.commit if original else None,
    )  # fmt: skip
    sweep_orphans()
    summary = (model.manifest.converted or {}).get("summary", "")
    return target, (
        f"Converted {folder.name} (bigdl-llm's save_low_bit, {model.low_bit}) once into "
        f"qwen-tui's layout at {target}: {summary}. The original folder is unchanged."
    )


def forget(folder: Path) -> None:
    """Remove the converted copy of ``folder`` (its original is being removed)."""
    _remove(copy_path(folder))


def _remove(copy: Path) -> None:
    """A converted copy, and its weights as our kernels read them (``paths.packed_file``)."""
    remove_file(paths.packed_file(copy), paths.cache_dir())
    if copy.exists():
        remove_tree(copy, paths.converted_dir())


def sweep_orphans() -> None:
    """Remove converted copies whose original folder is gone."""
    root = paths.converted_dir()
    if not root.is_dir():
        return
    for child in root.iterdir():
        manifest = None if child.name.startswith(".") else read_manifest(child)
        origin = (manifest.converted or {}).get("path") if manifest else None
        if origin and not Path(origin).is_dir():
            _remove(child)
