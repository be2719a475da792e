"""The core reply queue (``qwen_tui.chat.reply_queue``) wired to the Textual app: its
events become the app's messages and its work runs in a Textual thread worker (group
"generate"), so Textual still manages, and on exit cancels, that worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.message import Message

from ..chat import ChatService, ReplyEvent, ReplyQueue
from ..chat.chat_tools import ChatTools
from ..engine.types import Engine
from .messages import message_for


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
    def __init__(self, app: QueueHost) -> None:
        def ready_engine() -> Engine | None:
            return app.engine if app.engine_state == "ready" else None

        def post(event: ReplyEvent) -> None:  # from the worker thread: post_message is safe
            app.post_message(message_for(event))

        def run(work: Callable[[], None]) -> None:
            app.run_worker(work, thread=True, group="generate", name="generate")

        super().__init__(app.service, ready_engine, on_event=post, run=run, tools=app.tools)
