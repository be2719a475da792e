"""`pull`: download a model from the hub (or a mirror) and quantize it into the store.

A Hugging Face repo is downloaded whole (the weights in one format) and quantized; a GGUF repo
gives one ``.gguf`` file, which goes through the GGUF import (``store/gguf_import``). Either
way the commit comes from ``pin.resolve`` and is recorded in the model's manifest, and the
download is removed once the model is stored, unless it is to be kept.
"""

from __future__ import annotations

import glob
import threading
from pathlib import Path

from .. import paths
from ..catalog import GB, CatalogEntry, default_name_for, find_entry
from ..errors import UsageError
from ..remote_code import check_remote_code
from . import local, pin
from .download import RemoteFile, download_snapshot, resolve_endpoint, select_files
from .progress import Progress, ProgressCallback, human_bytes, ignore_progress
from .quantize import quantize_folder
from .removal import remove_tree
from .resources import check_disk, check_memory
from .source import read_source_config


def repo_for(model: str) -> tuple[str, CatalogEntry | None]:
    entry = find_entry(model)
    if entry:
        return entry.repo_id, entry
    if model.count("/") != 1 or model.startswith("/") or model.endswith("/"):
        raise UsageError(
            f"'{model}' is neither a catalog model nor a Hugging Face repo id.",
            "See `qwen-tui models` for the catalog, "
            "or give a repo id like Qwen/Qwen2.5-0.5B-Instruct.",
        )
    return model, None


def pull(
    model: str,
    *,
    low_bit: str,
    revision: str | None = None,
    name: str | None = None,
    gguf_file: str | None = None,
    endpoint: str | None = None,
    token_mirrors: tuple[str, ...] = (),
    trust_remote_code: bool = False,
    progress: ProgressCallback = ignore_progress,
    notice: pin.Notice = pin.ignore_notice,
    cancel: threading.Event | None = None,
    keep_download: bool = False,
    force: bool = False,
) -> local.LocalModel:
    """Download ``model`` (catalog key or repo id) and quantize it; return the stored model.

    ``gguf_file`` picks one file of a GGUF repo (a GGUF catalog key implies its own). The hub
    token goes to ``endpoint`` only if it is the official hub or one of ``token_mirrors``."""
    repo_id, entry = repo_for(model)
    if name is not None:  # a bad name is said before asking the hub anything
        local.validate_name(name)
    if gguf_file is None and entry and entry.gguf_file and model.strip().lower() == entry.key:
        gguf_file = entry.gguf_file
    endpoint = resolve_endpoint(endpoint)
    progress(Progress("check", 0, None, detail=f"asking the hub about {repo_id}"))
    commit, remote = pin.resolve(repo_id, entry, revision, endpoint, notice, model, token_mirrors)
    ggufs = [f for f in remote if f.name.lower().endswith(".gguf")]
    if gguf_file is not None:
        wanted = next((f for f in ggufs if f.name == gguf_file), None)
        if wanted is None:
            raise UsageError(
                f"{repo_id} has no GGUF file named {gguf_file} at {pin.short(commit)}"
                + (f"; it has {_listing(ggufs)}." if ggufs else "."),
                "Pass one of those to --file." if ggufs else "Check the repo and file names.",
            )
        return _pull_gguf(
            repo_id, entry, wanted, commit, low_bit=low_bit, name=name, endpoint=endpoint,
            token_mirrors=token_mirrors, progress=progress, cancel=cancel,
            keep_download=keep_download, force=force,
        )  # fmt: skip
    if ggufs and not any(f.name == "config.json" for f in remote):
        raise UsageError(
            f"{repo_id} is a GGUF repo: pick one of its files, {_listing(ggufs)}.",
            f"Run `qwen-tui pull {repo_id} --file NAME`.",
        )
    name = local.validate_name(name or default_name_for(repo_id))
    _refuse_existing(name, low_bit, force)
    wanted_files = select_files(remote)
    download_bytes = sum(f.size for f in wanted_files)
    stored_size = entry.disk_bytes(low_bit) if entry else download_bytes
    check_disk(paths.cache_dir(), download_bytes + stored_size, f"download and store {repo_id}")
    ram = entry.ram_to_quantize(low_bit) if entry else download_bytes * 2 + GB // 2
    check_memory(ram, f"quantize {repo_id}")

    root = paths.downloads_dir()
    if not trust_remote_code:  # refuse unknown remote code before the big download, not after
        head = download_snapshot(
            repo_id, commit, root, endpoint=endpoint, token_mirrors=token_mirrors,
            allow_patterns=["config.json"],
        )  # fmt: skip
        check_remote_code(read_source_config(head.path), head.path, trusted=False)
    snapshot = download_snapshot(
        repo_id, commit, root, endpoint=endpoint, token_mirrors=token_mirrors,
        progress=progress, cancel=cancel,
    )  # fmt: skip
    stored = quantize_folder(
        snapshot.path,
        name,
        low_bit,
        source=repo_id,
        commit=snapshot.commit,
        trust_remote_code=trust_remote_code,
        progress=progress,
        cancel=cancel,
        force=force,
    )
    if not keep_download:  # the store holds everything needed
        remove_tree(snapshot.path, root)
    return stored


def _pull_gguf(
    repo_id: str,
    entry: CatalogEntry | None,
    wanted: RemoteFile,
    commit: str,
    *,
    low_bit: str,
    name: str | None,
    endpoint: str | None,
    token_mirrors: tuple[str, ...],
    progress: ProgressCallback,
    cancel: threading.Event | None,
    keep_download: bool,
    force: bool,
) -> local.LocalModel:
    """One .gguf file of ``repo_id`` at ``commit``, downloaded (resumably) and imported."""
    name = local.validate_name(name or Path(wanted.name).stem.lower())
    _refuse_existing(name, low_bit, force)
    # checked again, exactly, once the file is here (quantize_folder)
    stored = entry.disk_bytes(low_bit) if entry else 2 * wanted.size
    check_disk(paths.cache_dir(), wanted.size + stored, f"download and import {wanted.name}")
    if entry:
        check_memory(entry.ram_to_quantize(low_bit), f"quantize {wanted.name}")
    root = paths.downloads_dir()
    snapshot = download_snapshot(
        repo_id, commit, root, endpoint=endpoint, token_mirrors=token_mirrors,
        progress=progress, cancel=cancel, allow_patterns=[glob.escape(wanted.name)],
    )  # fmt: skip
    model = quantize_folder(
        snapshot.path / wanted.name,
        name,
        low_bit,
        source=f"{repo_id}/{wanted.name}",
        commit=snapshot.commit,
        progress=progress,
        cancel=cancel,
        force=force,
    )
    if not keep_download:
        remove_tree(snapshot.path, root)
    return model


def _refuse_existing(name: str, low_bit: str, force: bool) -> None:
    existing = paths.models_dir() / local.folder_name(name, low_bit)
    if existing.exists() and not force:  # before the download, not after it
        raise UsageError(
            f"A model named {existing.name} already exists.",
            "Pass --force to download and quantize it again, or choose another --name.",
        )


def _listing(files: list[RemoteFile]) -> str:
    return ", ".join(f"{f.name} ({human_bytes(f.size)})" for f in files)
