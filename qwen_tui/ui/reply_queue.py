"""One engine serves every conversation: replies are generated one at a time.

A send while another reply is generating waits in the queue. The work runs in
a Textual thread worker that only posts messages; it never touches widgets.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from ..chat import ReplyOutcome
from ..errors import one_line
from .messages import QueueChanged, ReplyChunk, ReplyFinished, ReplyStarted

if TYPE_CHECKING:
    from .app import QwenApp


class ReplyQueue:
    def __init__(self, app: QwenApp) -> None:
        self.app = app
        self.pending: deque[int] = deque()
        self.current: int | None = None
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.running = False
        self.live: dict[int, str] = {}  # text streamed so far, per conversation (UI thread)
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
        self.app.post_message(QueueChanged())
        self.kick()

    def drop(self, conversation_id: int) -> None:
        with self.lock:
            if conversation_id in self.pending:
                self.pending.remove(conversation_id)
        if self.current == conversation_id:
            self.cancel.set()
        self.app.post_message(QueueChanged())

    def stop_current(self) -> bool:
        if self.current is None:
            return False
        self.cancel.set()
        return True

    def kick(self) -> None:
        """Start the worker if there is work and a ready engine."""
        if self.app.engine is None or self.app.engine_state != "ready":
            return
        with self.lock:
            if self.running or not self.pending:
                return
            self.running = True
        self.app.run_worker(self._work, thread=True, group="generate", name="generate")

    def _work(self) -> None:
        app = self.app
        while True:
            with self.lock:
                engine = app.engine  # read once: a model load may set it to None meanwhile
                if not self.pending or engine is None:
                    self.current = None
                    self.running = False
                    break
                conversation_id = self.pending.popleft()
                self.current = conversation_id
                continuing = conversation_id in self.continuing
                self.continuing.discard(conversation_id)
            self.cancel.clear()
            app.post_message(QueueChanged())
            holder: dict[str, int] = {}

            def started(message_id: int, cid: int = conversation_id, holder=holder) -> None:
                holder["id"] = message_id
                app.post_message(ReplyStarted(cid, message_id))

            try:
                outcome = app.service.generate(
                    conversation_id,
                    engine,
                    on_start=started,
                    on_text=lambda piece, cid=conversation_id: app.post_message(
                        ReplyChunk(cid, piece)
                    ),
                    cancel=self.cancel,
                    continue_reply=continuing,
                )
            except Exception as exc:  # e.g. the conversation was deleted meanwhile
                outcome = ReplyOutcome(holder.get("id", -1), None, one_line(exc))
            reply = outcome.reply
            app.post_message(
                ReplyFinished(
                    conversation_id,
                    outcome.message_id,
                    reply.text if reply else "",
                    reply.stats if reply else None,
                    outcome.error,
                    continued=continuing,
                )
            )
        app.post_message(QueueChanged())
