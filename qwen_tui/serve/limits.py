"""How much one client, and all of them together, may ask of the server.

Each limit answers with a 4xx (or 503) in OpenAI's shape, or closes a connection that sends
nothing useful; ``qwen-tui serve`` sets the first three from ``--max-body``, ``--max-queue``
and ``--max-connections``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass(frozen=True)
class Limits:
    max_body: int = 8 << 20  # bytes of one request body (413 past it)
    max_queue: int = 8  # replies waiting their turn, the one being written aside (429 past it)
    max_connections: int = 256  # open connections; past it the longest idle one is closed
    bodies_at_once: int = 4  # bodies being read hold at most this many max_body in all (503)
    small_body: int = 64 << 10  # bytes of each body that this total does not count
    body_seconds: float = 60  # a body arrives whole within this (408)
    head_seconds: float = 10  # a request's line and headers arrive within this, or it closes
    keep_alive_seconds: int = 5  # a connection idle between two requests closes after this
    max_head: int = 16 << 10  # bytes of the request line and headers (400 past it)
    retry_after: int = 5  # seconds, in the Retry-After of a 429 or 503

    @property
    def body_budget(self) -> int:
        return self.max_body * self.bodies_at_once


def parse_size(text: str) -> int:
    """``"8M"`` -> 8 MiB; a plain number is bytes; K, M and G count in 1024s."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"'{text}' is not a size: write bytes, or a number with K, M or G.")
    return int(match[1]) * SIZE_UNITS[match[2].upper()]
