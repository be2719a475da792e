"""Progress reports shared by download and quantize (plain data, no UI)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    stage: str  # "check" | "download" | "quantize" | "save" | "verify" | "done"
    done: int = 0  # bytes for "download", steps otherwise
    total: int | None = None
    rate: float | None = None  # bytes (or steps) per second
    eta: float | None = None  # seconds left
    detail: str = ""  # file name or step description

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    return None


class RateMeter:
    """Turns (done, total) samples into a rate and an ETA, smoothed over a few seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self.samples: list[tuple[float, int]] = []

    def update(self, done: int, total: int | None) -> tuple[float | None, float | None]:
        now = time.monotonic()
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.pop(0)
        t0, d0 = self.samples[0]
        if now - t0 <= 0 or done <= d0:
            return None, None
        rate = (done - d0) / (now - t0)
        eta = (total - done) / rate if total and rate > 0 else None
        return rate, eta


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(s)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
