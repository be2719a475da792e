"""Stop strings, which the engine does not have: the answer is cut where the first one begins.

Text streams in pieces, and a stop string may span several. What could still be the start of
one is held back until the next piece tells: a client never sees part of a stop string that
then matches (nor, once one matched, anything after it).
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.held = ""
        self.hit = False  # a stop string matched: the answer is over

    def push(self, text: str) -> str:
        """What of the answer so far can be shown now."""
        if self.hit:
            return ""
        if not self.stops:
            return text
        self.held += text
        cut = min((at for at in (self.held.find(s) for s in self.stops) if at >= 0), default=-1)
        if cut >= 0:
            self.hit = True
            out, self.held = self.held[:cut], ""
            return out
        keep = max(_partial_suffix(self.held, s) for s in self.stops)
        out = self.held[: len(self.held) - keep]
        self.held = self.held[len(self.held) - keep :]
        return out

    def flush(self) -> str:
        """The end of the answer: what was held back did not become a stop string."""
        out, self.held = self.held, ""
        return "" if self.hit else out


def _partial_suffix(text: str, stop: str) -> int:
    """The length of the longest end of ``text`` that begins ``stop`` (but is not all of it)."""
    for n in range(min(len(stop) - 1, len(text)), 0, -1):
        if stop.startswith(text[-n:]):
            return n
    return 0
