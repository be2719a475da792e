"""A POST body read as JSON, within limits: its type, its size, the time it takes, and the memory
all bodies being read hold together.

The size is counted as the body arrives (a ``Content-Length`` over the limit is refused before
a byte of it is read; a chunked body when it passes the limit), so a body over the limit is
never held whole. The bodies being read at once are counted together too, beyond a first
``Limits.small_body`` bytes each (small requests are never turned away by large ones): a
``Content-Length`` is reserved before the body is read, so that the bodies let in are read
whole rather than all cut short together; a chunked body counts as it comes. Past
``Limits.body_budget`` a request is told to come back later (503), rather than the server
holding many large bodies at a time.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from starlette.requests import ClientDisconnect, Request

from .errors import ApiError, bad_request, server_error
from .limits import Limits

CLOSE = {"Connection": "close"}  # the rest of the body is not read: the connection cannot go on


class BodyBudget:
    """Bytes held by the bodies being read, all requests together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.held -= n


class BodyReader:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.budget = BodyBudget(limits.body_budget)

    async def json(self, request: Request) -> Any:
        """The body as JSON, or ApiError: 415 not JSON, 413 too big, 408 too slow, 503 busy,
        400 not valid JSON."""
        check_json_type(request.headers.get("content-type"))
        length = self._length(request.headers.get("content-length"))
        raw = bytearray()
        held = 0  # bytes of this body counted against the budget

        def hold(size: int) -> None:
            nonlocal held
            more = max(0, size - self.limits.small_body) - held
            if more > 0:
                if not self.budget.take(more):
                    raise server_error(
                        "The server is receiving too many large requests at once; try again "
                        "shortly.",
                        503,
                        {"Retry-After": str(self.limits.retry_after), **CLOSE},
                    )
                held += more

        async def read() -> None:
            async for chunk in request.stream():
                if len(raw) + len(chunk) > self.limits.max_body:
                    raise self._too_big()
                hold(len(raw) + len(chunk))
                raw.extend(chunk)

        try:
            if length is not None:
                hold(length)  # before a byte is read: a body let in is read whole
            try:
                await asyncio.wait_for(read(), self.limits.body_seconds)
            except asyncio.TimeoutError:
                raise ApiError(
                    408,
                    f"The request body did not arrive within {self.limits.body_seconds:g} s.",
                    code="request_timeout",
                    headers=CLOSE,
                ) from None
            except ClientDisconnect:  # nobody reads the answer
                raise ApiError(499, "The client closed the connection.", code="cancelled") from None
            return parse_json(raw)
        finally:
            self.budget.give(held)

    def _length(self, header: str | None) -> int | None:
        """The Content-Length, if there is one (else the body is chunked); 413 past the limit."""
        if header is None:
            return None
        if not header.strip().isdigit():
            raise bad_request("The Content-Length header is not a number.")
        if int(header) > self.limits.max_body:
            raise self._too_big()
        return int(header)

    def _too_big(self) -> ApiError:
        return ApiError(
            413,
            f"The request body is larger than this server takes ({self.limits.max_body:,} "
            "bytes); send less, or start the server with a larger --max-body.",
            code="request_too_large",
            headers=CLOSE,
        )


def check_json_type(content_type: str | None) -> None:
    """415 unless the body is ``application/json`` (parameters such as charset are fine)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "application/json":
        sent = f"not {media[:60]!r}" if media else "none was sent"
        raise ApiError(
            415,
            f"The request body must be JSON, sent with 'Content-Type: application/json' ({sent}).",
            code="unsupported_media_type",
        )


def parse_json(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}).") from None
    except RecursionError:  # [[[[... deeper than Python's stack
        raise bad_request("The request body is not valid JSON (nested too deeply).") from None
