"""The one engine replies are written with, and the loads that replace it.

A user may pick model A, then model B while A is still loading (or a slow server, then a
fast one). Loads run on worker threads and can end in any order, so each one is given a
ticket when it is asked for (``request``, on the thread that decides: the UI's) and only the
newest ticket's engine is ever installed:

- a load superseded before it starts does not start;
- a load superseded while it ran unloads its engine at once (its memory goes back now, not
  whenever the garbage collector gets to it) and installs nothing;
- local models load one at a time (``exclusive``): a newer local load waits for the older
  one to finish and unload, so two models are never held in memory together; a connection
  to a server holds no model and never waits behind a local load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Generic, TypeVar

from ..engine.types import Engine, ModelInfo

E = TypeVar("E", bound=Engine)


class EngineSlot(Generic[E]):
    def __init__(self) -> None:
        self._engine: E | None = None
        self._newest = 0
        self._lock = threading.Lock()  # guards _engine and _newest
        self._one_local_load = threading.Lock()

    @property
    def engine(self) -> E | None:
        """The installed engine (None: none yet, or the newest load has not finished)."""
        return self._engine

    def request(self) -> int:
        """A ticket for a new load; every older ticket is superseded by it."""
        with self._lock:
            self._newest += 1
            return self._newest

    def is_newest(self, ticket: int) -> bool:
        with self._lock:
            return ticket == self._newest

    def load(self, ticket: int, make: Callable[[], E], exclusive: bool) -> ModelInfo | None:
        """Make and load the engine of ``ticket`` (on a worker thread) and install it; None
        when a newer ticket came first (nothing is installed, nothing stays loaded). The
        engine in use is unloaded before the new one loads. Errors of ``make`` and of the
        engine's ``load`` are raised (is the ticket still the newest? ``is_newest`` says)."""
        with self._one_local_load if exclusive else nullcontext():
            if not self.is_newest(ticket):
                return None
            self._retire()
            engine = make()
            info = engine.load()
            with self._lock:  # nothing was installed since _retire: only the newest installs
                newest = ticket == self._newest
                if newest:
                    self._engine = engine
            if not newest:
                engine.unload()
                return None
            return info

    def _retire(self) -> None:
        """Unload the engine in use, first: its memory is free before the next one loads."""
        with self._lock:
            old, self._engine = self._engine, None
        if old is not None:
            old.unload()
