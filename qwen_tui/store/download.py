"""Download a model snapshot from the Hugging Face hub into our own folder, resumably.

Layout: ``dest_root/<org>--<name>/<commit>/`` holds the repo files; ``.qwen-tui-complete``
(JSON) is written there once every file is present. The global HF cache is not used.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import huggingface_hub
from huggingface_hub import constants as hf_constants

from qwen_tui.errors import Cancelled, DownloadFailed
from qwen_tui.store.hub_errors import map_error
from qwen_tui.store.hub_trust import (
    OFFICIAL_ENDPOINT,
    check_commit,
    check_file_name,
    check_size,
    is_commit,
    token_argument,
)
from qwen_tui.store.progress import Progress, ProgressCallback, RateMeter, ignore_progress
from qwen_tui.store.removal import check_inside, remove_file, remove_tree

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # for anything started from here
hf_constants.HF_HUB_DISABLE_TELEMETRY = True  # in case huggingface_hub was imported before us

COMPLETE_MARKER = ".qwen-tui-complete"
SKIPPED_PATTERNS = ("*.h5", "*.msgpack", "*.ot", "*.onnx", "*.gguf")
TORCH_WEIGHTS = ("*.bin", "*.pt")  # skipped when the repo has *.safetensors
REPORT_INTERVAL = 0.1  # seconds: at most ~10 progress reports a second
_CHUNK = 1 << 20  # read size of huggingface_hub's http_get while we download (default 10 MiB)


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int


@dataclass(frozen=True)
class Snapshot:
    repo_id: str
    commit: str
    path: Path
    files: tuple[RemoteFile, ...]


def resolve_endpoint(config_endpoint: str | None) -> str | None:
    """``HF_ENDPOINT`` wins, then the config value; None means huggingface_hub's default."""
    value = (os.environ.get("HF_ENDPOINT") or config_endpoint or "").strip().rstrip("/")
    return value or None


def list_remote_files(
    repo_id: str,
    revision: str | None,
    endpoint: str | None,
    token_mirrors: tuple[str, ...] = (),
) -> tuple[str, tuple[RemoteFile, ...]]:
    """Resolve ``revision`` to a commit sha and list the repo's files with their sizes.

    The answer is checked (``hub_trust``): a commit id that is not one, or a file name that
    is not a plain relative path, refuses the whole listing."""
    site = endpoint or OFFICIAL_ENDPOINT
    try:
        info = huggingface_hub.HfApi(endpoint=site).model_info(
            repo_id, revision=revision, files_metadata=True, timeout=20,
            token=token_argument(site, token_mirrors),
        )  # fmt: skip
        if not info.sha:
            raise DownloadFailed(f"The hub did not say which commit {repo_id} is at.")
        commit = check_commit(repo_id, info.sha, revision)
        reserved = (COMPLETE_MARKER, COMPLETE_MARKER + ".tmp")
        files = []
        for s in info.siblings or ():
            name = check_file_name(repo_id, s.rfilename, reserved)
            files.append(RemoteFile(name, check_size(repo_id, name, s.size)))
        return commit, tuple(files)
    except Exception as e:
        raise map_error(e, repo_id, revision, endpoint) from e


def select_files(
    files: tuple[RemoteFile, ...], allow_patterns: list[str] | None = None
) -> tuple[RemoteFile, ...]:
    """Files to fetch: ``allow_patterns`` (fnmatch) if given, else all but unused formats."""
    if allow_patterns is not None:
        return tuple(f for f in files if any(fnmatch.fnmatch(f.name, p) for p in allow_patterns))
    skip = list(SKIPPED_PATTERNS)
    if any(fnmatch.fnmatch(f.name, "*.safetensors") for f in files):
        skip += TORCH_WEIGHTS
    return tuple(f for f in files if not any(fnmatch.fnmatch(f.name, p) for p in skip))


def snapshot_dir(dest_root: Path, repo_id: str, commit: str) -> Path:
    """``dest_root/<org>--<name>/<commit>``; a commit that is not one is refused."""
    if not is_commit(commit):
        raise DownloadFailed(f"'{commit}' is not a commit id (40 hex digits).")
    folder = Path(dest_root) / repo_id.replace("/", "--") / commit
    check_inside(folder.parent, dest_root)
    return folder


def download_snapshot(
    repo_id: str,
    revision: str | None,
    dest_root: Path,
    *,
    endpoint: str | None = None,
    token_mirrors: tuple[str, ...] = (),
    progress: ProgressCallback = ignore_progress,
    cancel: threading.Event | None = None,
    allow_patterns: list[str] | None = None,
) -> Snapshot:
    """Download ``repo_id`` at ``revision`` (a branch, tag or commit) file by file.

    A call after a failure or cancellation continues where the last one stopped: finished
    files are skipped and a partial file is resumed with an HTTP Range request. The hub token
    goes to ``endpoint`` only if it is the official hub or one of ``token_mirrors``.
    """
    full = allow_patterns is None  # only a full snapshot is marked complete
    if full and is_commit(revision):  # pinned and complete: no network
        done = _read_marker(snapshot_dir(dest_root, repo_id, str(revision)), repo_id)
        if done is not None:
            return done
    site = endpoint or OFFICIAL_ENDPOINT
    commit, remote = list_remote_files(repo_id, revision, endpoint, token_mirrors)
    files = tuple(sorted(select_files(remote, allow_patterns), key=lambda f: (f.size, f.name)))
    folder = snapshot_dir(dest_root, repo_id, commit)
    report = _Reporter(progress, cancel, sum(f.size for f in files))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _hooked_huggingface_hub():
            for f in files:
                report.check_cancel()
                report.detail = f.name
                target = folder / f.name
                if not (target.is_file() and target.stat().st_size == f.size):
                    remove_file(target, folder)  # damaged: hf would trust it, so fetch again
                    _local.sink = report.file_bytes
                    try:  # cache_dir: an empty folder, so ~/.cache/huggingface is never read
                        huggingface_hub.hf_hub_download(
                            repo_id, f.name, revision=commit, local_dir=folder,
                            cache_dir=folder / ".no-global-cache", endpoint=site,
                            token=token_argument(site, token_mirrors),
                        )  # fmt: skip
                    finally:
                        _local.sink = None
                report.file_done(f.size)
        snapshot = Snapshot(repo_id, commit, folder, files)
        if full:  # partial downloads of other files live in .cache: keep them until then
            _write_marker(snapshot)
            remove_tree(folder / ".cache", folder)  # hf's per-file download state
    except Exception as e:
        raise map_error(e, repo_id, revision, endpoint, report.detail) from e
    return snapshot


# -- progress hook ---------------------------------------------------------------------------
# hf_hub_download has no progress callback, and in 0.36.2 `tqdm_class` exists only on
# snapshot_download, for its files-count bar ("not passed to each individual download"). Every
# byte bar (http_get and xet_get) is built by huggingface_hub.utils.tqdm._get_progress_bar_context,
# which looks up the module global `tqdm` of huggingface_hub/utils/tqdm.py at call time. So while
# we download, that global is a subclass forwarding byte counts to the sink the creating thread
# registered (thread-local: other callers' bars behave as usual). Patching
# huggingface_hub.file_download.tqdm would do nothing (it is only imported there), and
# `huggingface_hub.utils.tqdm` is the class, not the module, hence importlib.
_hf_tqdm_module: Any = importlib.import_module("huggingface_hub.utils.tqdm")
_original_tqdm = _hf_tqdm_module.tqdm
_local = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_saved: dict[str, object] = {}


class _ByteHookTqdm(_original_tqdm):  # type: ignore[misc, valid-type]
    def __init__(self, *args: object, **kwargs: object) -> None:
        self._qwen_sink: Callable[[int], None] | None = getattr(_local, "sink", None)
        self._qwen_n = int(kwargs.get("initial") or 0)  # type: ignore[call-overload]
        if self._qwen_sink is not None:
            kwargs["disable"] = True  # no terminal bar: the caller draws its own
        super().__init__(*args, **kwargs)
        if self._qwen_sink is not None:
            self._qwen_sink(self._qwen_n)

    def update(self, n: float | None = 1) -> bool | None:
        if self._qwen_sink is None:
            return super().update(n)
        self._qwen_n += int(n or 0)
        self._qwen_sink(self._qwen_n)  # may raise Cancelled: chunk not written, file kept
        return None


@contextmanager
def _hooked_huggingface_hub() -> Iterator[None]:
    """Install the byte hook and the settings resume and cancel rely on; undo on last exit.

    Xet and hf_transfer are off: hf_transfer deletes partial files instead of resuming, and
    hf_xet downloads in native threads that neither resume with Range nor stop on cancel.
    """
    global _patch_users
    settings = {"DOWNLOAD_CHUNK_SIZE": _CHUNK, "HF_HUB_DISABLE_XET": True,
                "HF_HUB_ENABLE_HF_TRANSFER": False}  # fmt: skip
    with _patch_lock:
        if _patch_users == 0:
            for name, value in settings.items():
                _saved[name] = getattr(hf_constants, name)
                setattr(hf_constants, name, value)
            _hf_tqdm_module.tqdm = _ByteHookTqdm
        _patch_users += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_users -= 1
            if _patch_users == 0:
                _hf_tqdm_module.tqdm = _original_tqdm
                for name, saved in _saved.items():
                    setattr(hf_constants, name, saved)


class _Reporter:
    """Turns per-file byte counts into throttled, monotonic ``Progress`` reports."""

    def __init__(self, callback: ProgressCallback, cancel: threading.Event | None, total: int):
        self.callback, self.cancel, self.total = callback, cancel, total
        self.base = self.done = 0
        self.detail, self.meter, self.last_report = "", RateMeter(), float("-inf")

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Download cancelled.", "Run the same command again to resume.")

    def file_bytes(self, n: int) -> None:
        self.check_cancel()
        self._set(self.base + n)

    def file_done(self, size: int) -> None:
        self.base += size
        self._set(self.base, force=self.base >= self.total)  # the last report is always sent

    def _set(self, done: int, force: bool = False) -> None:
        self.done = max(self.done, min(done, self.total))
        now = time.monotonic()
        if force or now - self.last_report >= REPORT_INTERVAL:
            self.last_report = now
            rate, eta = self.meter.update(self.done, self.total)
            self.callback(Progress("download", self.done, self.total, rate, eta, self.detail))


def _write_marker(s: Snapshot) -> None:
    files = [{"name": f.name, "size": f.size} for f in s.files]
    tmp = s.path / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps({"repo_id": s.repo_id, "commit": s.commit, "files": files}))
    os.replace(tmp, s.path / COMPLETE_MARKER)


def _read_marker(folder: Path, repo_id: str) -> Snapshot | None:
    try:
        data = json.loads((folder / COMPLETE_MARKER).read_text(encoding="utf-8"))
        files = tuple(RemoteFile(str(f["name"]), int(f["size"])) for f in data["files"])
        if data["repo_id"] != repo_id or not all((folder / f.name).is_file() for f in files):
            return None
        return Snapshot(repo_id, str(data["commit"]), folder, files)
    except (OSError, ValueError, KeyError, TypeError):
        return None
