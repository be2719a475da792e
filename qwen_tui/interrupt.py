"""Ctrl+C in the command line, kept even where a library swallows the KeyboardInterrupt.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be; while it
imports torch, transformers and their dependencies that can be inside a bare ``except:`` of
someone else's, and the interrupt is lost (``ask`` then answered in full and exited 0). The
handler here raises it as Python's does, and also remembers it, so a command can check at its
next step (``check``) and a reply that starts after it stops at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

INTERRUPTED = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    first = not INTERRUPTED.is_set()
    INTERRUPTED.set()
    if first:  # a second Ctrl+C while the first is handled must not interrupt the handling
        raise KeyboardInterrupt


def install() -> Any:
    """Our SIGINT handler, in the main thread (where Python delivers signals), with nothing
    remembered yet; returns the handler it replaced, for ``restore``."""
    INTERRUPTED.clear()
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, _on_sigint)


def restore(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl+C came since ``install`` (even if it was swallowed)."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


def route_to(cancel: threading.Event) -> None:
    """From now on Ctrl+C sets ``cancel`` (a reply stops within a token) instead of raising;
    one that came already sets it now."""

    def handler(signum: int, frame: FrameType | None) -> None:
        INTERRUPTED.set()
        cancel.set()

    signal.signal(signal.SIGINT, handler)
    if INTERRUPTED.is_set():
        cancel.set()
