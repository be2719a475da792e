"""One engine, one reply at a time: requests wait their turn and can leave the queue.

A request is admitted when its messages' characters could fit the context window (else 400
at once) and the queue has room (else 429). Its prompt is then counted in tokens on a thread of
its own, one request at a time, so that a long prompt never holds up the worker; a prompt that
does not fit fails there (400). Counted jobs run on the worker, in the order they came (FIFO):
the engine's ``chat`` blocks, so each runs in a thread. The engine's callbacks come from its
torch thread; they reach the request's coroutine through ``loop.call_soon_threadsafe`` into the
job's asyncio queue. A client that goes away drops its job: a waiting one leaves the queue at
once, a running one stops within a token and the next job starts. The worker outlives any
exception, its log function's too.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..engine.tools import ToolsNotSupported
from ..engine.types import ChatMessage, Engine, ModelInfo, ReplyStats
from ..errors import QwenTuiError
from .errors import ApiError, bad_request, internal_error, server_error
from .jobs import Done, Failed, Finished, Job, Piece, Started, cancelled
from .limits import Limits
from .request import ChatRequest
from .stops import StopMatcher
from .window import check_characters, room_for_reply

KEPT_REPLIES = 32  # replies whose tokens are kept, to be fed back as generated


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        log: Callable[[str], None] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.engine = engine
        self.log = log or (lambda line: None)
        self.limits = limits or Limits()
        self.finished: deque[Finished] = deque(maxlen=64)
        self._lock = threading.Lock()
        self._queued: list[Job] = []  # being counted or waiting, in the order they came
        self._running: Job | None = None
        self._ready = asyncio.Event()  # a counted job may be waiting
        self._closing = False
        self._counter = ThreadPoolExecutor(1, thread_name_prefix="serve-count")
        self._counting: set[asyncio.Task[None]] = set()
        self._tokens: OrderedDict[tuple[str, str], tuple[int, ...]] = OrderedDict()

    @property
    def waiting(self) -> int:
        """Jobs in the queue (being counted or waiting), the running one aside."""
        with self._lock:
            return len(self._queued)

    def submit(self, request: ChatRequest) -> Job:
        """Queue a request (on the event loop); its events come through ``job.next()``."""
        check_characters(request, self._info())
        loop = asyncio.get_running_loop()
        job = Job(request, loop, self._withdraw)
        with self._lock:
            if self._closing:
                raise server_error("The server is shutting down.", 503)
            if len(self._queued) >= self.limits.max_queue:
                raise ApiError(
                    429,
                    f"{len(self._queued)} requests are already waiting for the model; "
                    "try again shortly.",
                    type="server_error",  # OpenAI's type for its own overload
                    code="queue_full",
                    headers={"Retry-After": str(self.limits.retry_after)},
                )
            self._queued.append(job)
        task = loop.create_task(self._count(job))
        self._counting.add(task)
        task.add_done_callback(self._counting.discard)
        return job

    async def run(self) -> None:
        """The worker: one counted job at a time, in order, each in a thread."""
        while True:
            job = await self._next()
            try:
                await asyncio.to_thread(self._generate, job)
            except Exception as exc:  # a bug of ours around the reply: its client hears
                self._log_exception(exc)
                self._fail(job, repr(exc), internal_error())
            finally:
                with self._lock:
                    self._running = None

    def shutdown(self) -> None:
        """Refuse new requests and stop every job (from any thread)."""
        with self._lock:
            self._closing = True
            jobs = [*self._queued, *([self._running] if self._running else [])]
        for job in jobs:
            job.drop("shutdown")
        self._counter.shutdown(wait=False, cancel_futures=True)

    def _info(self) -> ModelInfo:
        info = self.engine.info
        if info is None:
            raise server_error("No model is loaded.", 503)
        return info

    async def _next(self) -> Job:
        while True:
            self._ready.clear()
            with self._lock:
                job = next((j for j in self._queued if j.counted), None)
                if job is not None:
                    self._queued.remove(job)
                    self._running = job
                    return job
            await self._ready.wait()

    async def _count(self, job: Job) -> None:
        """Count the job's prompt off the worker, then let it run; or fail it."""
        if job.cancel.is_set():
            return  # it left the queue (or the server is shutting down) before its turn
        try:
            await asyncio.get_running_loop().run_in_executor(self._counter, self._measure, job)
        except ApiError as exc:
            self._fail(job, exc.message, exc)
        except Exception as exc:  # the tokenizer failed, or the counter is shut down
            self._log_exception(exc)
            self._fail(job, repr(exc), internal_error())
        else:
            job.counted = True
            self._ready.set()

    def _withdraw(self, job: Job) -> None:
        """A job dropped before it runs leaves the queue at once (from any thread)."""
        with self._lock:
            if job not in self._queued:
                return  # it runs (and stops within a token), or it is over
            self._queued.remove(job)
        self.finished.append(Finished(ReplyStats(finish_reason="cancelled"), job.why))
        job.send(Failed(cancelled(job)))

    def _fail(self, job: Job, why: str, error: ApiError) -> None:
        if self._end(job, Finished(ReplyStats(finish_reason="failed"), job.why, why)):
            job.send(Failed(error))

    def _end(self, job: Job, record: Finished) -> bool:
        """Record the end of a job; False if it had already left the queue."""
        with self._lock:
            queued = job in self._queued
            if queued:
                self._queued.remove(job)
        if queued or job is self._running:
            self.finished.append(record)
            self._say(_log_line(record))
        return queued or job is self._running

    def _say(self, line: str) -> None:
        """The server's log line; a log that fails (stderr closed) loses the line, not the
        server."""
        try:
            self.log(line)
        except Exception:
            pass

    def _log_exception(self, exc: Exception) -> None:
        try:
            from ..log import log_error

            log_error(exc, "qwen-tui serve")
        except Exception:
            pass

    # -- on the counting thread ----------------------------------------
    def _measure(self, job: Job) -> None:
        if job.cancel.is_set():
            return  # it has left the queue: nothing to count
        request = job.request
        job.key = cache_key(request.messages)
        job.messages = self._as_generated(request.messages, job.key)
        tools = request.offered
        try:
            if tools:
                job.prompt_tokens = self.engine.count_tokens(job.messages, tools)
            else:
                job.prompt_tokens = self.engine.count_tokens(job.messages)
        except ToolsNotSupported as exc:  # the model's template has no tool calls
            raise bad_request(exc.one_line(), "tools" if tools else "messages") from None
        job.max_new_tokens = room_for_reply(request, job.prompt_tokens, self._info().context_window)

    # -- on the worker thread ------------------------------------------
    def _generate(self, job: Job) -> None:
        stats, error = ReplyStats(finish_reason="failed"), ""
        last: Done | Failed
        if job.cancel.is_set():  # dropped between the queue and here
            stats, last = ReplyStats(finish_reason="cancelled"), Failed(cancelled(job))
        else:
            try:
                stats, last = self._reply(job)
            except ApiError as exc:
                error, last = exc.message, Failed(exc)
            except Exception as exc:  # the engine's failure or a bug of ours: the log has it
                error = exc.one_line() if isinstance(exc, QwenTuiError) else repr(exc)
                self._log_exception(exc)
                last = Failed(internal_error())
        record = Finished(stats, job.why, error)
        self.finished.append(record)  # before the client hears the end: the record is there
        job.send(last)  # the request's coroutine ends on it, even if its client has gone
        self._say(_log_line(record))

    def _reply(self, job: Job) -> tuple[ReplyStats, Done | Failed]:
        request = job.request
        job.send(Started(job.prompt_tokens))
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
            job.messages,
            replace(request.params, max_new_tokens=job.max_new_tokens),
            on_text=on_text,
            on_reasoning=on_reasoning,
            cancel=job.cancel,
            cache_key=job.key,
            continue_reply=request.continue_reply,
            tools=request.tools,
            tool_choice=request.tool_choice,
        )
        tail = stops.flush()
        if tail:
            answer.append(tail)
            job.send(Piece(tail, False))
        calls = reply.tool_calls if request.parallel_tool_calls else reply.tool_calls[:1]
        finish = "stop" if stops.hit else reply.stats.finish_reason
        if finish == "cancelled":
            return reply.stats, Failed(cancelled(job))
        if calls:
            finish = "tool_calls"
        text = "".join(answer)
        if not stops.hit and not calls:
            self._keep_tokens(job.key, text, reply.token_ids)
        return reply.stats, Done(text, "".join(thinking), finish, reply.stats, calls)

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
    bad = stats.bad_tool_calls
    return (
        f"{stats.prompt_tokens} prompt tokens ({stats.reused_tokens} cached), "
        f"{stats.generated_tokens} written in {stats.total_seconds:.2f} s "
        f"({stats.decode_tokens_per_s:.1f} tokens/s): {how}"
        + (f"; {bad} badly written tool call{'s' if bad > 1 else ''} kept as text" if bad else "")
    )
