"""Quantized models on disk: list, resolve a name, remove.

A model lives in ``<cache>/models/<name>-<low_bit>/`` and counts only when its
manifest is complete. Work in progress lives in ``.tmp-*`` folders beside it,
which are never listed and are swept when their process is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from .. import paths
from ..errors import ModelNotFound, UsageError
from ..manifest import Manifest, read_manifest
from .removal import remove_file, remove_tree

TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class LocalModel:
    folder_name: str  # "<name>-<low_bit>", what `rm` and `--model` accept
    path: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def low_bit(self) -> str:
        return self.manifest.low_bit

    def problems(self) -> list[str]:
        """What is wrong with the files against the manifest (sizes: cheap; `verify` hashes)."""
        from ..manifest import problems

        return problems(self.path, self.manifest)


def folder_name(name: str, low_bit: str) -> str:
    return f"{name}-{low_bit}"


def validate_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or cleaned.startswith(".") or any(c in cleaned for c in '/\\:*?"<>|'):
        raise UsageError(
            f"'{name}' is not a usable model name.",
            "Use letters, digits, dots, dashes and underscores.",
        )
    return cleaned


def list_local(root: Path | None = None) -> list[LocalModel]:
    root = root or paths.models_dir()
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        manifest = read_manifest(child)
        if manifest is not None:
            found.append(LocalModel(child.name, child, manifest))
    return found


def resolve(name: str, low_bit: str | None = None, root: Path | None = None) -> LocalModel:
    """Find a local model by folder name, by model name, or by catalog key."""
    from ..catalog import find_entry

    models = list_local(root)
    wanted = name.strip()
    for model in models:
        if model.folder_name == wanted:
            return model
    entry = find_entry(wanted)
    names = {wanted, entry.key if entry else wanted}
    matches = [m for m in models if m.name in names]
    if low_bit:
        preferred = [m for m in matches if m.low_bit == low_bit]
        matches = preferred or matches
    if matches:
        return matches[0]
    available = ", ".join(m.folder_name for m in models) or "none"
    raise ModelNotFound(
        f"No local model named '{name}' (local models: {available}).",
        f"Run `qwen-tui pull {entry.key if entry else name}` or "
        "`qwen-tui quantize PATH --name NAME` first.",
    )


@dataclass(frozen=True)
class Leftover:
    """A folder in the store that is not a model (no valid manifest): an interrupted run of an
    older version, or files copied in by hand. Never loaded; `rm` removes it."""

    folder_name: str
    path: Path

    @property
    def size(self) -> int:
        return disk_size(self.path)


def leftovers(root: Path | None = None) -> list[Leftover]:
    root = root or paths.models_dir()
    if not root.is_dir():
        return []
    return [
        Leftover(child.name, child)
        for child in sorted(root.iterdir())
        if child.is_dir() and not child.name.startswith(".") and read_manifest(child) is None
    ]


def remove(name: str, root: Path | None = None) -> LocalModel | Leftover:
    """Delete a model (or a leftover folder, by its folder name)."""
    try:
        model: LocalModel | Leftover = resolve(name, root=root)
    except ModelNotFound:
        found = [f for f in leftovers(root) if f.folder_name == name.strip()]
        if not found:
            raise
        model = found[0]
    from .lowbit_import.cache import forget

    remove_file(paths.packed_file(model.path), paths.cache_dir())  # its packed weights
    forget(model.path)  # the copy a save_low_bit folder was converted into, if any
    # Rename first so a half-deleted folder never looks like a model.
    doomed = model.path.with_name(f"{TMP_PREFIX}rm-{model.folder_name}-{os.getpid()}")
    os.replace(model.path, doomed)
    remove_tree(doomed, root or paths.models_dir())
    return model


def sweep_stale(root: Path | None = None) -> None:
    """Delete temporary folders whose owning process no longer runs."""
    root = root or paths.models_dir()
    if not root.is_dir():
        return
    for child in root.iterdir():
        if not child.name.startswith(TMP_PREFIX):
            continue
        pid = child.name.rsplit("-", 1)[-1]
        if pid.isdigit() and psutil.pid_exists(int(pid)):
            continue
        remove_tree(child, root)


def disk_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def choose(name: str | None, configured: str | None, low_bit: str | None = None) -> LocalModel:
    """The model to use: the one named, else the configured one, else the only one."""
    if name:
        return resolve(name, low_bit)
    models = list_local()
    if configured:
        try:
            return resolve(configured, low_bit)
        except ModelNotFound:
            if not models:
                raise
    if not models:
        raise ModelNotFound(
            "There is no local model yet.",
            "Run `qwen-tui pull qwen-1_8b-chat`, or offline `qwen-tui quantize PATH --name NAME`.",
        )
    preferred = [m for m in models if low_bit and m.low_bit == low_bit]
    return (preferred or models)[0]


def open_folder(path: Path) -> LocalModel:
    """A model folder given by path (``--model-path``); it must be complete, or be one
    bigdl-llm's save_low_bit wrote (converted when it is opened)."""
    from ..manifest import verify
    from .lowbit_import import describe

    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ModelNotFound(f"{folder} does not exist.", "Check the path.")
    manifest = describe(folder) or verify(folder)
    return LocalModel(folder.name, folder, manifest)
