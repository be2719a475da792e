"""Server-sent events, as OpenAI-compatible servers stream a chat completion.

Each event is ``data: <json>`` and a blank line; the stream ends with ``data: [DONE]``. An
error mid-stream comes as ``data: {"error": {...}}`` (vLLM, newer llama-server) or, from
llama-server, as an ``error: {...}`` line of its own. Comment lines (``: ping``) keep a
connection alive and carry nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DONE = "[DONE]"


@dataclass(frozen=True)
class Event:
    field: str  # "data" or "error"
    data: str


def events(lines: Iterable[str]) -> Iterator[Event]:
    """The events in a stream's lines (without their line endings)."""
    held: list[str] = []
    kind = "data"
    for line in lines:
        if not line:
            if held:
                yield Event(kind, "\n".join(held))
            held, kind = [], "data"
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name not in ("data", "error"):
            continue  # event:, id:, retry: say nothing a chat completion needs
        if name == "error":
            kind = "error"
        held.append(value[1:] if value.startswith(" ") else value)
    if held:  # a stream cut without its final blank line
        yield Event(kind, "\n".join(held))
