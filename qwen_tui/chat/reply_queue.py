"""One engine serves every conversation: replies are generated one at a time.

A send while another reply is generating waits in the queue. The work runs on a thread
(``run``; the Textual app passes one of its thread workers) that only sends events
(``on_event``, see ``events.py``); it never touches what shows them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from ..engine.types import Engine
from ..errors import one_line
from .chat_tools import ChatTools
from .events import (
    QueueChanged,
    ReplyChunk,
    ReplyEvent,
    ReplyFinished,
    ReplyStarted,
    ToolCallsMade,
)
from .service import ChatService, ReplyOutcome
from .tool_reply import reply_with_tools

Work: TypeAlias = Callable[[], None]
Runner: TypeAlias = Callable[[Work], None]


@dataclass
class LiveThought:
    """A streaming reply's thinking so far, and when it began (``time.monotonic``)."""

    text: str
    started: float
    seconds: float | None = None  # how long it took, once the answer began


def run_on_thread(work: Work) -> None:
    """The default runner: a daemon thread, so a reply being written never holds up an exit."""
    threading.Thread(target=work, name="generate", daemon=True).start()


class ReplyQueue:
    """The conversations waiting for a reply, and the one getting it (``current``).

    ``engine`` returns the engine to write with, or None while there is none ready (no
    model, or one loading): nothing starts then, and ``kick()`` starts the queue once it is.
    With ``tools``, a chat that has MCP servers switched on gets a reply that may call them
    (``tool_reply.py``); writing on a reply cut short (``continue_reply``) offers none.
    """

    def __init__(
        self,
        service: ChatService,
        engine: Callable[[], Engine | None],
        on_event: Callable[[ReplyEvent], None],
        run: Runner = run_on_thread,
        tools: ChatTools | None = None,
    ) -> None:
        self.service = service
        self.tools = tools
        self._engine = engine
        self._emit = on_event
        self._run = run
        self.pending: deque[int] = deque()
        self.current: int | None = None
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.running = False
        self.closed = False  # shut down: nothing starts any more
        self._idle = threading.Event()  # set while no worker runs
        self._idle.set()
        # The text streamed so far, per conversation: kept by ``follow`` on the thread that
        # reads it (the UI's), so it always matches the chunks that thread has seen.
        self.live: dict[int, str] = {}
        self.live_thought: dict[int, LiveThought] = {}  # the same for the thinking
        self.continuing: set[int] = set()  # queued to write on their last reply

    def busy(self, conversation_id: int) -> bool:
        with self.lock:
            return conversation_id == self.current or conversation_id in self.pending

    @property
    def queued(self) -> set[int]:
        with self.lock:
            return set(self.pending)

    def enqueue(self, conversation_id: int, continue_reply: bool = False) -> None:
        with self.lock:
            if continue_reply:
                self.continuing.add(conversation_id)
            # The generating chat may be queued again: its newest message is answered next.
            if conversation_id not in self.pending:
                self.pending.append(conversation_id)
        self._emit(QueueChanged())
        self.kick()

    def drop(self, conversation_id: int) -> None:
        with self.lock:
            if conversation_id in self.pending:
                self.pending.remove(conversation_id)
        if self.current == conversation_id:
            self.cancel.set()
        self._emit(QueueChanged())

    def stop_current(self) -> bool:
        if self.current is None:
            return False
        self.cancel.set()
        return True

    def kick(self) -> None:
        """Start the worker if there is work and a ready engine."""
        if self._engine() is None:
            return
        with self.lock:
            if self.running or not self.pending or self.closed:
                return
            self.running = True
            self._idle.clear()
        self._run(self._work)

    def shut_down(self, timeout: float) -> bool:
        """Stop for good (the app is closing): nothing queued starts (the messages stay
        saved, unanswered), the reply being written stops and saves what it wrote. True once
        the worker has ended, False if it still runs after ``timeout`` seconds."""
        with self.lock:
            self.closed = True
            self.pending.clear()
            self.cancel.set()
            if self.current is None:  # no reply is being written (a worker yet to start
                return True  # will find nothing to do)
        return self._idle.wait(timeout)

    def follow(self, event: ReplyEvent) -> None:
        """Keep ``live`` up to date with an event; call it where the events are shown."""
        if isinstance(event, ReplyStarted):
            self.live[event.conversation_id] = ""
            self.live_thought.pop(event.conversation_id, None)
        elif isinstance(event, ReplyChunk) and event.reasoning:
            thought = self.live_thought.setdefault(
                event.conversation_id, LiveThought("", time.monotonic())
            )
            thought.text += event.text
        elif isinstance(event, ReplyChunk):
            cid = event.conversation_id
            self.live[cid] = self.live.get(cid, "") + event.text
            before = self.live_thought.get(cid)
            if before is not None and before.seconds is None:
                before.seconds = round(time.monotonic() - before.started, 1)
        elif isinstance(event, (ReplyFinished, ToolCallsMade)):  # a round with calls is shown whole
            self.live.pop(event.conversation_id, None)
            self.live_thought.pop(event.conversation_id, None)

    def _work(self) -> None:
        try:
            self._answer_queue()
        finally:  # however it ended (an event that could not be sent, say), it has ended
            with self.lock:
                self.current = None
                self.running = False
                self._idle.set()  # the last reply is saved: the store may close

    def _answer_queue(self) -> None:
        while True:
            with self.lock:
                engine = self._engine()  # read once: a model load may set it to None meanwhile
                if not self.pending or engine is None:
                    self.current = None
                    self.running = False
                    self._idle.set()
                    break
                conversation_id = self.pending.popleft()
                self.current = conversation_id
                continuing = conversation_id in self.continuing
                self.continuing.discard(conversation_id)
                self.cancel.clear()  # under the lock: a shut_down from now on stops this reply
            self._emit(QueueChanged())
            self._emit(self._reply(conversation_id, engine, continuing))
        self._emit(QueueChanged())

    def _reply(self, conversation_id: int, engine: Engine, continuing: bool) -> ReplyFinished:
        started_id = -1

        def started(message_id: int) -> None:
            nonlocal started_id
            started_id = message_id
            self._emit(ReplyStarted(conversation_id, message_id))

        def text(piece: str) -> None:
            self._emit(ReplyChunk(conversation_id, piece))

        def thought(piece: str) -> None:
            self._emit(ReplyChunk(conversation_id, piece, reasoning=True))

        def plain() -> ReplyOutcome:
            return self.service.generate(
                conversation_id,
                engine,
                on_start=started,
                on_text=text,
                cancel=self.cancel,
                continue_reply=continuing,
                on_reasoning=thought,
            )

        def emit(event: ReplyEvent) -> None:
            nonlocal started_id
            if isinstance(event, ReplyStarted):
                started_id = event.message_id
            self._emit(event)

        try:
            tools = self.tools
            servers = tools.servers_of(self.service.store, conversation_id) if tools else []
            if tools is None or not servers or continuing:
                outcome = plain()
            else:
                outcome = reply_with_tools(
                    self.service,
                    tools,
                    conversation_id,
                    engine,
                    servers,
                    emit=emit,
                    cancel=self.cancel,
                    plain=plain,
                )
        except Exception as exc:  # e.g. the conversation was deleted meanwhile
            outcome = ReplyOutcome(started_id, None, one_line(exc))
        reply = outcome.reply
        return ReplyFinished(
            conversation_id,
            outcome.message_id,
            reply.text if reply else "",
            reply.stats if reply else None,
            outcome.error,
            continued=continuing,
            reasoning=reply.reasoning if reply else "",
            thinking_seconds=outcome.thinking_seconds,
            tool_limit=outcome.tool_limit,
            between_rounds=outcome.between_rounds,
        )
