"""Connections: how many may be open, and how long one may take to say what it wants.

uvicorn's h11 protocol closes a connection only when it stays idle after a reply
(``timeout_keep_alive``): one that sends nothing, or sends its headers a byte at a time, stays
open for ever; and its ``limit_concurrency`` answers a request on a connection past the limit
with a plain-text 503 but still accepts the connections themselves. This protocol adds:

- a request's line and headers must arrive within ``Limits.head_seconds`` of the connection
  opening (or of the first byte of the next request on it), or the connection closes;
- past ``Limits.max_connections`` open connections, the one idle the longest (no request under
  way: it sent nothing yet, or part of its headers, or is between two requests) is closed to
  make room, as nginx reuses idle keep-alive connections; if every one has a request under way,
  the new connection is closed at once.

A request answered before its body was read has its connection closed: the rest of its body,
dripped a byte at a time, would otherwise keep it open and never idle.

What it does not bound: a request whose headers are in is the app's (``body.py`` times its body,
the reply takes as long as it takes); uvicorn holds at most 64 KiB of a body the app has not
read yet, then stops reading the socket.
"""

from __future__ import annotations

import asyncio
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import Limits


class GuardedH11Protocol(H11Protocol):
    limits = Limits()  # set by guarded_protocol()
    idle_since = 0.0
    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = time.monotonic()
        self._await_head()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._await_head()  # part of a head: the clock started with its first byte
        else:
            self._stop_head_timer()

    def on_response_complete(self) -> None:
        self.idle_since = time.monotonic()
        super().on_response_complete()  # uvicorn's keep-alive timer runs until the next byte
        if self.conn.their_state is h11.SEND_BODY:
            # answered before its body was read (/health, 401, 403, 415 ...): the rest of the
            # body would keep the connection from ever being idle, a byte at a time
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    @property
    def idle(self) -> bool:
        """No request under way: none yet, or only part of its headers, or between two."""
        between = self.cycle is None or self.cycle.response_complete
        return between and self.conn.their_state is h11.IDLE

    def _await_head(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.limits.head_seconds, self._head_late)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_late(self) -> None:
        self.head_timer = None
        if self.idle:
            self._close()

    def _make_room(self) -> None:
        idle = [
            c
            for c in self.connections
            if c is not self and isinstance(c, GuardedH11Protocol) and c.idle
        ]
        if idle:
            min(idle, key=lambda c: c.idle_since)._close()
        else:
            self._close()  # every one is busy: this one waits its turn by trying again

    def _close(self) -> None:
        self._stop_head_timer()
        self.timeout_keep_alive_handler()  # uvicorn closing an idle connection


def guarded_protocol(limits: Limits) -> type[GuardedH11Protocol]:
    """The protocol class for uvicorn's ``http=`` with these limits."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})
