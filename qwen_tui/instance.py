"""One window writes the conversation history: the app holds a lock on it while it runs.

A second window finds the lock held and opens the history read-only (it can read, search and
export, not send or change anything), so two windows never mark each other's live replies
stopped or delete what the other is writing to. The lock is an advisory ``flock`` on
``qwen-tui.lock`` in the data directory, released by the kernel when the process ends,
however it ends; the file holds the owner's pid for the message.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import paths

try:
    import fcntl
except ImportError:  # not POSIX: no lock (every window writes, as before)
    fcntl = None  # type: ignore[assignment]


class InstanceLock:
    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def _open(path: Path) -> int:
    paths.private_dir(path.parent)
    return os.open(path, os.O_RDWR | os.O_CREAT, paths.PRIVATE_FILE)


def acquire() -> InstanceLock | None:
    """The lock, or None when another process holds it."""
    if fcntl is None:
        return InstanceLock(None)
    fd = _open(paths.instance_lock())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return InstanceLock(fd)


def holder() -> int | None:
    """The pid of the window holding the history, or None."""
    if fcntl is None or not paths.instance_lock().exists():
        return None
    fd = _open(paths.instance_lock())
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        data = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(data) if data.isdigit() else -1
    finally:
        os.close(fd)  # drops our shared lock if we got it
    return None
