"""A request's life in the scheduler, and the events its coroutine reads: Started, then Pieces,
then Done or Failed (or Failed at once: too long, cancelled, shutting down)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.types import ChatMessage, ReplyStats, ToolCall
from .errors import ApiError, server_error
from .request import ChatRequest


@dataclass(frozen=True)
class Started:
    prompt_tokens: int


@dataclass(frozen=True)
class Piece:
    text: str
    reasoning: bool


@dataclass(frozen=True)
class Done:
    text: str
    reasoning: str
    finish_reason: str  # "stop" | "length" | "tool_calls"
    stats: ReplyStats
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Failed:
    error: ApiError


Event = Started | Piece | Done | Failed


@dataclass(frozen=True)
class Finished:
    """A job's end, as the server's log and tests see it."""

    stats: ReplyStats
    why: str  # "": it ran its course; "client", "stop" or "shutdown": what cut it short
    error: str = ""


class Job:
    def __init__(
        self,
        request: ChatRequest,
        loop: asyncio.AbstractEventLoop,
        on_drop: Callable[[Job], None] = lambda job: None,
    ) -> None:
        self.request = request
        self.cancel = threading.Event()
        self.why = ""  # who cancelled: "client" | "stop" | "shutdown"
        self.answered = False  # the client has had the reply's end (Done or Failed)
        # set once the prompt is counted (on the counting thread), before the job may run
        self.counted = False
        self.messages: list[ChatMessage] = request.messages  # replies of ours as generated
        self.key = ""  # the KV cache's
        self.prompt_tokens = 0
        self.max_new_tokens = 0
        self._loop = loop
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._on_drop = on_drop

    def send(self, event: Event) -> None:
        """From any thread."""
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    async def next(self) -> Event:
        event = await self._events.get()
        self.answered = self.answered or isinstance(event, Done | Failed)
        return event

    def leave(self) -> None:
        """The client is gone or has all it wants: stop the job unless it is over."""
        if not self.answered:
            self.drop("client")

    def drop(self, why: str = "client") -> None:
        """Stop this job (from any thread): it leaves the queue, or stops within a token."""
        if not self.why:
            self.why = why
        self.cancel.set()
        self._on_drop(self)


def cancelled(job: Job) -> ApiError:
    if job.why == "shutdown":
        return server_error("The server is shutting down.", 503)
    # nobody reads this: the client has gone (499 is nginx's "client closed request")
    return ApiError(499, "The client closed the connection.", code="cancelled")
