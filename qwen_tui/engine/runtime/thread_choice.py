"""How many threads decode the next token: the count that decodes fastest on this machine now.

A decoded token is a few hundred short parallel steps, each ending when its slowest thread
does. On a quiet machine every thread helps; when another process takes one of the cores (a
compile, a second model, a browser on a 2-vCPU box), the thread that shares that core keeps
every step waiting and two threads decode at a quarter of their quiet speed, where one
thread, alone on the free core, keeps most of it. Which is faster cannot be known in advance
(it depends on the other load, the cores, the model), so it is measured: the decoder times
each token; every so often a few tokens run with another count, and the faster count is kept.
Results do not depend on the count (each output is computed the same way by one thread), so
switching costs nothing but the trial tokens.

- A trial: ``TRIAL`` tokens with another count; its first is dropped (threads waking up), the
  median of the rest is compared with the current count's ``pace``: the lower median of its
  last ``WINDOW`` tokens. A count more than ``MARGIN`` faster takes over.
- The window is long enough that a short burst of other work does not count: the app's own
  UI thread, redrawing a streaming reply, shares a core with one of the decoding threads for
  two or three tokens, and one thread, alone on the other core, is faster for as long. Judged
  on the last four tokens, such bursts moved decode to one thread for a third of a reply; a
  process that keeps a core busy slows every token, and is seen after five.
- Trials of a count that lost by far (``FAR``) come less often (the wait doubles up to
  ``LONGEST`` tokens): on a quiet machine they cost under 1 % of decode.
- The current count getting much slower than it was (its pace ``SLOWER``, or
  one token ``JOLT`` times slower: another process started) brings the next trial forward.
- A trial token more than ``ABORT`` times slower ends its trial at once. With another
  program's process group on one of two cores, Linux's autogroup scheduling gives each group
  half the machine, and a token on two threads can take a second against 12 ms on one: one
  such token is what it takes to learn it, and that count waits long enough (up to
  ``SLOWEST`` tokens) for its trials to cost under ``COST`` of decode's time.
"""

from __future__ import annotations

import os
import statistics
from collections import deque

TRIAL = 4  # tokens a trial runs (the first is not counted)
WINDOW = 8  # the current count's last tokens its pace is taken from (more than half of them)
FIRST = 8  # tokens before the first trial
EVERY = 32  # tokens between trials while counts are close
LONGEST = 256  # the longest wait for a count that lost by far
MARGIN = 0.10  # a count must be this much faster to take over
FAR = 0.15  # lost by more than this: its trials come less often
SLOWER = 1.5  # the current count this much slower than its best: try the others now
ABORT = 3.0  # a trial token this much slower ends the trial at once, lost
JOLT = 10.0  # one token of the current count this much slower than its best: look again now
COST = 0.02  # what the trials of a count that lost may cost of decode's time, at most
SLOWEST = 8192  # the longest wait a costly trial earns


def candidates(most: int) -> list[int]:
    """The counts worth trying: all threads, one fewer (another process holds one core), one;
    only ``most`` with ``QWEN_TUI_THREAD_CHOICE=off``."""
    if os.environ.get("QWEN_TUI_THREAD_CHOICE", "").lower() == "off":
        return [most]
    return sorted({most, max(most - 1, 1), 1}, reverse=True)


class ThreadChoice:
    """``pick()`` before a decoded token, ``record(threads, seconds)`` after it."""

    def __init__(self, most: int) -> None:
        self.counts = candidates(max(most, 1))
        self.current = self.counts[0]
        self.recent: deque[float] = deque(maxlen=WINDOW)  # the current count's last tokens
        self.best_seen: float | None = None  # the current count's fastest pace so far
        self.gaps = {c: EVERY for c in self.counts}  # tokens between a count's trials
        self.waits = {c: FIRST for c in self.counts}  # tokens until its next trial
        self.trying: int | None = None
        self.trial: list[float] = []
        self.switches = 0  # how often another count took over (bench reports it)

    def report(self) -> dict:
        """The count now, the most, the counts tried and how often another took over."""
        return {"threads": self.current, "most": self.counts[0], "counts": self.counts,
                "switches": self.switches}  # fmt: skip

    def pace(self) -> float:
        """The current count's seconds a token: slower only once most of its window is."""
        return statistics.median_low(self.recent)

    def pick(self) -> int:
        if self.trying is None and len(self.recent) == WINDOW:
            due = [c for c in self.counts if c != self.current and self.waits[c] <= 0]
            if due:
                self.trying, self.trial = due[0], []
        return self.current if self.trying is None else self.trying

    def record(self, threads: int, seconds: float) -> None:
        if threads == self.trying:
            self.trial.append(seconds)
            if seconds > ABORT * self.pace():
                self._lost(threads, sum(self.trial))
            elif len(self.trial) == TRIAL:
                self._judge(threads)
        elif threads == self.current:
            self._count(seconds)

    def _count(self, seconds: float) -> None:
        self.recent.append(seconds)
        for c in self.waits:
            self.waits[c] -= 1
        if len(self.recent) < WINDOW:
            return
        now = self.pace()
        if self.best_seen is not None and seconds > JOLT * self.best_seen:
            # one token ten times slower: another process took a core (a hiccup that long is
            # rare); try the other counts now, against this token
            self.recent = deque([seconds] * WINDOW, maxlen=WINDOW)
            now = seconds
        if self.best_seen is None or now < self.best_seen:
            self.best_seen = now
        elif now > SLOWER * self.best_seen:  # another process started: look again now
            self.waits = {c: min(w, 0) for c, w in self.waits.items()}
            self.best_seen = now

    def _judge(self, threads: int) -> None:
        theirs, ours = statistics.median(self.trial[1:]), self.pace()
        self.trying, self.trial = None, []
        if theirs < (1 - MARGIN) * ours:
            old, self.current = self.current, threads
            self.switches += 1
            self.recent = deque([theirs] * WINDOW, maxlen=WINDOW)
            self.best_seen = theirs
            self.gaps[old] = self.waits[old] = EVERY
            return
        if theirs > (1 + FAR) * ours:
            self._lost(threads, 0.0)
        else:
            self.gaps[threads] = self.waits[threads] = EVERY

    def _lost(self, threads: int, spent: float) -> None:
        """``threads`` lost by far, its trial having taken ``spent`` seconds (0: as long as
        the current count's tokens): its trials come less often."""
        self.trying, self.trial = None, []
        gap = min(2 * self.gaps[threads], LONGEST)
        ours = self.pace()
        extra = spent - TRIAL * ours  # what the trial cost beyond the same tokens on ours
        if extra > 0:
            gap = max(gap, min(int(extra / (COST * ours)), SLOWEST))
        self.gaps[threads] = self.waits[threads] = gap
