"""The arena our kernels read, written once and mapped from then on: loading a model a second
time is a memory map and a little header work, with no copy of the weights.

The first load packs the store's weights into the arena (``arena.py``) and writes it to
``<cache>/packed/<model folder>-<hash of its path>.qtw`` (written beside it and renamed, so a
half-written file is never read); later loads map that file read-only. The header records what
the arena was packed from: the weights file (size, modification time, inode), the layout file's
bytes, the kernels' build (whose repack made the layout) and ``PACKED_VERSION``. Any of them
changed, the file is short, or its header unreadable: the arena is packed again and the file
rewritten. A file that cannot be written (a full disk, a read-only cache) is skipped, and the
model runs from the packed arena as before. ``QWEN_TUI_PACKED_CACHE=off`` neither reads nor
writes it. Removing a model (``qwen-tui rm``) removes its file.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import psutil

from ... import paths
from ...log import logger
from ...sizes import PACKED_HEADER
from ..kernels import library
from .layout import LAYOUT, WEIGHTS

# the arena's layout; raise it when kernels.weights.pack_into changes (2: 5-bit fifth-bit planes)
PACKED_VERSION = 2
MAGIC = b"QTWPACK1"
HEADER = PACKED_HEADER  # bytes before the arena: the magic, the header's length, its JSON, padding
ENV = "QWEN_TUI_PACKED_CACHE"


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() != "off"


def identity(folder: Path, arena_bytes: int) -> dict:
    """What the arena of ``folder`` is packed from; a cache file for anything else is stale."""
    weights = (Path(folder) / WEIGHTS).stat()
    kernels = Path(str(library().__file__)).stat()
    layout = (Path(folder) / LAYOUT).read_bytes()
    return {
        "version": PACKED_VERSION,
        "weights": [weights.st_size, weights.st_mtime_ns, weights.st_ino],
        "layout": hashlib.sha256(layout).hexdigest(),
        "kernels": [kernels.st_size, kernels.st_mtime_ns],
        "arena": arena_bytes,
        "folder": str(Path(folder).resolve()),  # for the sweep of files whose model is gone
    }


def mapped(folder: Path, arena_bytes: int) -> np.ndarray | None:
    """The cached arena of ``folder``, mapped read-only; None where there is no good one."""
    if not enabled():
        return None
    path = paths.packed_file(folder)
    try:
        with open(path, "rb") as fh:  # the header checked is the mapped file's, once opened
            if _header(fh) != identity(folder, arena_bytes):
                return None
            if os.fstat(fh.fileno()).st_size != HEADER + arena_bytes:
                return None
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # Linux: mapped now
            view = mmap.mmap(fh.fileno(), HEADER + arena_bytes, flags, mmap.PROT_READ)
    except (OSError, ValueError):
        return None
    return np.frombuffer(view, np.uint8, count=arena_bytes, offset=HEADER)


def write(folder: Path, arena: np.ndarray) -> None:
    """Keep ``arena`` (just packed from ``folder``) for the next load; best effort."""
    if not enabled():
        return
    path = paths.packed_file(folder)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    _sweep(path.parent)
    try:
        header = json.dumps(identity(folder, arena.nbytes)).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as fh:
            fh.write(MAGIC + len(header).to_bytes(8, "little") + header)
            fh.write(b"\0" * (HEADER - 16 - len(header)))
            fh.write(arena.data)
        os.replace(partial, path)
    except OSError as exc:
        logger().info("the packed weights of %s were not kept: %s", folder.name, exc)
        try:
            partial.unlink(missing_ok=True)
        except OSError:  # its folder could not be made
            pass


def _sweep(folder: Path) -> None:
    """Remove partial files whose writer was stopped before it finished (killed, say), and the
    files of models whose folder is gone (deleted by hand, a temporary copy): not only ``rm``
    removes models."""
    try:
        for partial in folder.glob(".*.partial"):
            pid = partial.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                partial.unlink(missing_ok=True)
        for kept in folder.glob("*.qtw"):
            try:
                with open(kept, "rb") as fh:
                    model = _header(fh).get("folder")
            except OSError:  # unreadable: left for the next sweep
                continue
            if isinstance(model, str) and not Path(model).is_dir():
                kept.unlink(missing_ok=True)
    except OSError:
        pass


def _header(fh: BinaryIO) -> dict:
    """The header of the cache file open in ``fh``, or {} where it has none that reads."""
    try:
        head = fh.read(HEADER)
        length = int.from_bytes(head[8:16], "little")
        if head[:8] != MAGIC or not 0 < length <= HEADER - 16:
            return {}
        found = json.loads(head[16 : 16 + length])
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}
