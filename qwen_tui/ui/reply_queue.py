"""The core reply queue (``qwen_tui.chat.reply_queue``) wired to the Textual app: its
events become the app's messages and its work runs in a Textual thread worker (group
"generate"), so Textual still manages, and on exit cancels, that worker.

The reply's pieces are gathered rather than posted one message a token: while a
``ChunksWaiting`` is on its way, more pieces join it, and the app takes them all at once
(``take_chunks``), consecutive pieces of one kind joined. A message a token woke the UI
thread sixty to a hundred times a second, each wake-up taken from the decoder on a 2-core
machine. Every other event is posted after the pieces before it, and the pieces after it
wait for a ChunksWaiting of their own (a reply's next round, after its tool calls, may write
before the round before is shown), so their order holds.

A ChunksWaiting is also posted at most every ``GAP`` seconds: the UI thread, idle between
redraws, took each one at once, so each batch was one piece and the app still woke at every
token (500 messages a 512-token reply). A piece that comes sooner starts a batch that is held;
the next piece after ``GAP``, the next other event, or the app ``GAP`` after it took the last
batch (``release_held``: a reply that stops writing for a while without ending, a slow
server, still shows its last pieces), whichever comes first, posts it. The reply is redrawn
at most every ``FASTEST`` seconds (``redraw_pace.py``), so no redraw misses a piece for it.
Every post happens under ``chunks_lock``, so a batch's message is always queued before the
message of the event after it, whichever thread posts it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from textual.message import Message

from ..chat import ChatService, ReplyEvent, ReplyQueue
from ..chat.chat_tools import ChatTools
from ..chat.events import ReplyChunk
from ..engine.types import Engine
from .messages import ChunksWaiting, message_for
from .redraw_pace import FASTEST

GAP = FASTEST  # seconds between ChunksWaiting messages, at least


class QueueHost(Protocol):
    """What the queue needs of the app (QwenApp has it)."""

    @property
    def service(self) -> ChatService: ...

    @property
    def engine(self) -> Engine | None: ...

    @property
    def tools(self) -> ChatTools: ...

    @property
    def engine_state(self) -> str: ...

    def post_message(self, message: Message) -> bool: ...

    def run_worker(
        self, work: Callable[[], None], *, thread: bool, group: str, name: str
    ) -> object: ...


class AppReplyQueue(ReplyQueue):
    def __init__(self, app: QueueHost, clock: Callable[[], float] = time.monotonic) -> None:
        def ready_engine() -> Engine | None:
            return app.engine if app.engine_state == "ready" else None

        self.chunks_lock = threading.Lock()
        # the pieces not yet taken, a batch per ChunksWaiting (oldest first); the newest
        # takes more pieces only while no other event came after it (``open``), and its
        # ChunksWaiting may not be posted yet (``held``)
        self.batches: deque[list[ReplyChunk]] = deque()
        self.open = False
        self.held = False
        self.posted_at = -GAP  # when the last ChunksWaiting was posted
        self.app, self.clock = app, clock

        def post(event: ReplyEvent) -> None:  # from the worker thread: post_message is safe
            with self.chunks_lock:
                if not isinstance(event, ReplyChunk):
                    self.open = False  # later pieces come after it: a batch of their own
                    if self.held:  # the pieces before this event are shown before it
                        self._post_batch()
                    app.post_message(message_for(event))
                    return
                if self.open:  # the newest batch takes it
                    self.batches[-1].append(event)
                else:  # a batch of its own, held until its ChunksWaiting is posted
                    self.batches.append([event])
                    self.open = self.held = True
                if self.held and clock() - self.posted_at >= GAP:
                    self._post_batch()

        def run(work: Callable[[], None]) -> None:
            app.run_worker(work, thread=True, group="generate", name="generate")

        super().__init__(app.service, ready_engine, on_event=post, run=run, tools=app.tools)

    def release_held(self) -> None:
        """Post a held batch now (the app calls it ``GAP`` after taking one): the reply may
        have stopped writing, and its last pieces would wait for its next."""
        with self.chunks_lock:
            if self.held:
                self._post_batch()

    def _post_batch(self) -> None:
        """Post the held batch's ChunksWaiting (with ``chunks_lock`` held)."""
        self.held = False
        self.posted_at = self.clock()
        self.app.post_message(ChunksWaiting())

    def take_chunks(self) -> list[ReplyChunk]:
        """The pieces of the oldest ChunksWaiting (the one being handled: messages come in
        order), consecutive ones of one reply and kind joined."""
        with self.chunks_lock:
            if not self.batches:
                return []
            chunks = self.batches.popleft()
            if not self.batches:  # the newest taken: the next piece posts again
                self.open = False
        joined: list[ReplyChunk] = []
        for chunk in chunks:
            last = joined[-1] if joined else None
            if last and (last.conversation_id, last.reasoning) == (
                chunk.conversation_id,
                chunk.reasoning,
            ):
                joined[-1] = ReplyChunk(
                    chunk.conversation_id, last.text + chunk.text, chunk.reasoning
                )
            else:
                joined.append(chunk)
        return joined
