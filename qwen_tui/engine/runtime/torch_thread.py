"""One thread for every torch call, shared by all engines in the process.

OpenMP (libgomp, used by torch, bigdl-llm and our kernel) keeps a thread pool
per thread that starts parallel work. Once two such threads exist (say, a
model loaded on one thread and replies generated on another), libgomp manages
more threads than there are CPUs and stops spinning at its barriers: every
parallel region then waits for sleeping threads to wake up. On two cores that
cut decoding from about 13 to 7 tokens/s. Running loads and replies on this
one long-lived thread keeps a single pool. Callers block until their call is
done; cancelling stays an Event the running call checks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")
WAKE_EVERY = 0.2  # seconds a caller waits before checking for signals again


class TorchThread:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[[], Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the torch thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return fn()
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="torch", daemon=True)
                self._thread.start()
        future: Future = Future()
        self._jobs.put((future, fn))
        while True:  # wake up now and then: a signal the kernel gave another thread (Ctrl+C
            # while torch works) only reaches Python's handlers when this thread runs
            try:
                return future.result(timeout=WAKE_EVERY)
            except FutureTimeout:
                continue

    def _loop(self) -> None:
        while True:
            future, fn = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)
            # not kept until the next job: fn is a bound method (an unloaded engine's, say)
            del future, fn


torch_thread = TorchThread()
