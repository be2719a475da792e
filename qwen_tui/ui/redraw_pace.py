"""How often a streaming reply is redrawn: as often as the UI thread can afford.

Each redraw of a streaming reply costs the UI thread the parse and render of its last
Markdown block (a long code block whole) and, while the view follows the reply, a repaint of
every line on the screen, since they all scroll: 30–50 ms on a 110×40 terminal, so ten
redraws a second kept a third of a core busy and took it from the decoder (the app streamed at
70 % of `bench`'s speed; at two redraws a second, at bench's). The cost grows with the
terminal, the reply and a slower core, so the pace is measured, not fixed: after each redraw,
the next one waits until the UI thread's CPU time since the last (the redraw, the pieces that
arrived) is at most ``BUDGET`` of the time between them. Short replies in a small window are
redrawn ten times a second; a long code block on a big screen, down to once a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

BUDGET = 0.05  # the share of one core the UI thread may spend on a streaming reply
FASTEST = 0.1  # seconds between redraws, at least (more often than this, no one sees)
SLOWEST = 1.0  # and at most (the reply must still be seen to move)


class RedrawPace:
    """``next_wait()`` after each redraw gives the seconds until the next one."""

    def __init__(
        self,
        cpu: Callable[[], float] = time.thread_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cpu = cpu  # the UI thread's CPU time: call from that thread only
        self.clock = clock
        self.wait = FASTEST
        self.last: tuple[float, float] | None = None  # (clock, cpu) at the last redraw

    def restart(self) -> None:
        """A new reply: its first redraws cost what its own text costs."""
        self.wait = FASTEST
        self.last = None

    def next_wait(self) -> float:
        now, used = self.clock(), self.cpu()
        if self.last is not None:
            spent = used - self.last[1]
            # the wait at which this much work per redraw is BUDGET of the time; halfway
            # there each redraw and at most twice the last wait, so one slow frame (a garbage
            # collection) does not stall the reply
            wanted = spent / BUDGET
            wait = min((self.wait + wanted) / 2, 2 * self.wait)
            self.wait = min(SLOWEST, max(FASTEST, wait))
        self.last = (now, used)
        return self.wait
