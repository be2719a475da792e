"""A one-line progress display for the terminal (CLI only)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .store.progress import Progress, human_bytes, human_seconds


def describe(p: Progress) -> str:
    if p.stage == "download":
        pct = f"{p.fraction * 100:5.1f}%" if p.fraction is not None else "     "
        rate = f"{human_bytes(p.rate)}/s" if p.rate else "…"
        return (
            f"downloading {pct} {human_bytes(p.done)} / {human_bytes(p.total)}"
            f"  {rate}  ETA {human_seconds(p.eta)}  {p.detail}"
        )
    step = f"[{p.done}/{p.total}] " if p.total else ""
    return f"{step}{p.stage}: {p.detail}"


class ProgressLine:
    """Redraws one line on a TTY; prints a line every few seconds elsewhere."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval
        self.last_print = 0.0
        self.last_stage = ""

    def __call__(self, p: Progress) -> None:
        text = describe(p)
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[2K" + text[:200])
            if p.stage != "download" or p.fraction == 1.0:
                self.stream.write("\n")
        elif p.stage != self.last_stage or now - self.last_print >= self.interval:
            self.stream.write(text + "\n")
            self.last_print = now
        self.last_stage = p.stage
        self.stream.flush()
