"""One engine, one reply at a time: requests wait their turn and can leave the queue.

The engine's ``chat`` blocks, so a worker task runs it in a thread, one job after another in
the order they came (FIFO). The engine's callbacks come from its torch thread; they reach the
request's coroutine through ``loop.call_soon_threadsafe`` into the job's asyncio queue. A
client that goes away sets the job's ``cancel`` event: a waiting job is skipped, a running one
stops within a token and the next job starts.

KV reuse: a conversation's cache key is made of its first messages (the system prompt and the
first user message), so a client's next turn finds the cache of the last one. The engine
checks the token prefix itself: a key shared by two conversations only costs a prefill. The
tokens of recent replies are kept too, so that a reply sent back as text is fed to the model
as the tokens it generated (which the cache holds), not as the tokenizer's own spelling.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..engine.types import ChatMessage, Engine, ReplyStats
from ..errors import QwenTuiError
from .errors import ApiError, server_error
from .request import ChatRequest
from .stops import StopMatcher

KEPT_REPLIES = 32  # replies whose tokens are kept, to be fed back as generated
SMALLEST_PROMPT_ROOM = 16  # the engine wants this many tokens of the window for the prompt


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
    finish_reason: str  # "stop" | "length"
    stats: ReplyStats


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
    def __init__(self, request: ChatRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.cancel = threading.Event()
        self.why = ""  # who cancelled: "client" | "stop" | "shutdown"
        self.answered = False  # the client has had the reply's end (Done or Failed)
        self._loop = loop
        self._events: asyncio.Queue[Event] = asyncio.Queue()

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
        """Stop this job (from any thread): it never starts, or stops within a token."""
        if not self.why:
            self.why = why
        self.cancel.set()


class Scheduler:
    def __init__(self, engine: Engine, log: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.log = log or (lambda line: None)
        self.finished: deque[Finished] = deque(maxlen=64)
        self._queue: asyncio.Queue[Job] | None = None
        self._lock = threading.Lock()
        self._pending: set[Job] = set()
        self._closing = False
        self._tokens: OrderedDict[tuple[str, str], tuple[int, ...]] = OrderedDict()

    def submit(self, request: ChatRequest) -> Job:
        """Queue a request (on the event loop); its events come through ``job.next()``."""
        job = Job(request, asyncio.get_running_loop())
        with self._lock:
            if self._closing:
                raise server_error("The server is shutting down.", 503)
            self._pending.add(job)
        self._jobs().put_nowait(job)
        return job

    async def run(self) -> None:
        """The worker: one job at a time, in order, each in a thread."""
        while True:
            job = await self._jobs().get()
            if job.cancel.is_set():
                self._finish(job, Finished(ReplyStats(finish_reason="cancelled"), job.why))
                job.send(Failed(_cancelled(job)))
                continue
            await asyncio.to_thread(self._generate, job)

    def shutdown(self) -> None:
        """Refuse new requests and stop every job (from any thread)."""
        with self._lock:
            self._closing = True
            jobs = list(self._pending)
        for job in jobs:
            job.drop("shutdown")

    def _jobs(self) -> asyncio.Queue[Job]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    def _finish(self, job: Job, record: Finished) -> None:
        with self._lock:
            self._pending.discard(job)
        self.finished.append(record)

    # -- on the worker thread ------------------------------------------
    def _generate(self, job: Job) -> None:
        stats, error = ReplyStats(finish_reason="failed"), ""
        try:
            stats, last = self._reply(job)
        except ApiError as exc:
            error, last = exc.message, Failed(exc)
        except QwenTuiError as exc:
            error = exc.one_line()
            last = Failed(server_error(f"The engine failed: {error}"))
        except Exception as exc:  # a bug of ours: the server stays up, the log has it all
            from ..log import log_error

            where = log_error(exc, "qwen-tui serve")
            error = f"{type(exc).__name__}: {exc}"
            last = Failed(server_error(f"The engine failed ({error}); details in {where}."))
        record = Finished(stats, job.why, error)
        self._finish(job, record)  # before the client hears the end: the record is there
        self.log(_log_line(record))
        job.send(last)  # the request's coroutine ends on it, even if its client has gone

    def _reply(self, job: Job) -> tuple[ReplyStats, Done | Failed]:
        request = job.request
        info = self.engine.info
        if info is None:
            raise server_error("No model is loaded.", 503)
        key = cache_key(request.messages)
        messages = self._as_generated(request.messages, key)
        window = info.context_window
        prompt = self.engine.count_tokens(messages)
        # the template's thinking switch may add a few tokens count_tokens does not see
        slack = SMALLEST_PROMPT_ROOM if request.params.enable_thinking is not None else 0
        room = window - max(prompt + slack, SMALLEST_PROMPT_ROOM)
        wanted = request.params.max_new_tokens
        if room < 1 or (wanted is not None and wanted > room):
            asked = f" and max_tokens asks for {wanted}" if wanted is not None else ""
            raise ApiError(
                400,
                f"This model's maximum context length is {window} tokens, but the messages "
                f"take {prompt}{asked}. Shorten the messages or lower max_tokens.",
                param="messages",
                code="context_length_exceeded",
            )
        job.send(Started(prompt))
        stops = StopMatcher(request.stops)
        answer: list[str] = []
        thinking: list[str] = []

        def on_text(piece: str) -> None:
            shown = stops.push(piece)
            if shown:
                answer.append(shown)
                job.send(Piece(shown, False))
            if stops.hit:
                job.drop("stop")

        def on_reasoning(piece: str) -> None:
            if not stops.hit:
                thinking.append(piece)
                job.send(Piece(piece, True))

        reply = self.engine.chat(
            messages,
            replace(request.params, max_new_tokens=wanted or room),
            on_text=on_text,
            on_reasoning=on_reasoning,
            cancel=job.cancel,
            cache_key=key,
            continue_reply=request.continue_reply,
        )
        tail = stops.flush()
        if tail:
            answer.append(tail)
            job.send(Piece(tail, False))
        finish = "stop" if stops.hit else reply.stats.finish_reason
        if finish == "cancelled":
            return reply.stats, Failed(_cancelled(job))
        text = "".join(answer)
        if not stops.hit:
            self._keep_tokens(key, text, reply.token_ids)
        return reply.stats, Done(text, "".join(thinking), finish, reply.stats)

    def _as_generated(self, messages: list[ChatMessage], key: str) -> list[ChatMessage]:
        """Assistant messages that are replies of ours, with the tokens we generated."""
        with self._lock:
            known = {m.content: self._tokens.get((key, m.content)) for m in messages}
        return [
            replace(m, token_ids=known[m.content])
            if m.role == "assistant" and known[m.content] and not m.token_ids
            else m
            for m in messages
        ]

    def _keep_tokens(self, key: str, text: str, ids: tuple[int, ...]) -> None:
        if not text or not ids:
            return
        with self._lock:
            self._tokens[(key, text)] = ids
            self._tokens.move_to_end((key, text))
            while len(self._tokens) > KEPT_REPLIES:
                self._tokens.popitem(last=False)


def _cancelled(job: Job) -> ApiError:
    if job.why == "shutdown":
        return server_error("The server is shutting down.", 503)
    # nobody reads this: the client has gone (499 is nginx's "client closed request")
    return ApiError(499, "The client closed the connection.", code="cancelled")


def cache_key(messages: list[ChatMessage]) -> str:
    """The same for every turn of one conversation: its system prompt and first user message."""
    lead: list[list[str]] = []
    for message in messages:
        lead.append([message.role, message.content])
        if message.role == "user":
            break
    digest = hashlib.sha256(json.dumps(lead, ensure_ascii=False).encode()).hexdigest()
    return f"serve-{digest[:32]}"


def _log_line(record: Finished) -> str:
    stats = record.stats
    if record.error:
        return f"failed: {record.error}"
    how = {"client": "cancelled by the client", "shutdown": "stopped for shutdown"}.get(
        record.why, "stop string" if record.why == "stop" else stats.finish_reason
    )
    return (
        f"{stats.prompt_tokens} prompt tokens ({stats.reused_tokens} cached), "
        f"{stats.generated_tokens} written in {stats.total_seconds:.2f} s "
        f"({stats.decode_tokens_per_s:.1f} tokens/s): {how}"
    )
