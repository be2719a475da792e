"""The chat screen's widgets and what they show, for the layers above it: its actions
(``chat_actions.ChatActions``) and the screen with its events (``chat.ChatScreen``).

Everything of the app it uses comes through the controller it is given."""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ...attachments import count
from ...chat.thinking import describe
from ...engine.types import Attachment
from ..controller import ChatController
from ..tool_meter import tool_meter
from ..widgets.attachment_bar import AttachmentBar, Pending
from ..widgets.chat_view import ChatView, LiveText
from ..widgets.prompt_input import PromptInput
from ..widgets.sidebar import Sidebar
from ..widgets.status_bar import StatusBar


class ChatBase(Screen[None]):
    def __init__(self, controller: ChatController) -> None:
        super().__init__()
        self.controller = controller
        self.conversation_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Sidebar()
        with Vertical(id="main"):
            yield ChatView(id="chat")
            yield AttachmentBar(id="attachments")
            yield PromptInput(id="prompt")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def chat_view(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def attachment_bar(self) -> AttachmentBar:
        return self.query_one(AttachmentBar)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    # -- showing ---------------------------------------------------------
    def refresh_sidebar(self) -> None:
        queue = self.controller.queue
        conversations = self.controller.store.list(self.sidebar.query_text or None)
        self.sidebar.show(conversations, self.conversation_id, queue.current, queue.queued)
        self.status.queued = len(queue.queued)

    async def open(self, conversation_id: int | None) -> None:
        queue = self.controller.queue
        # read first: a chat that cannot be read (a damaged page) leaves the open one open
        messages = self.controller.store.messages(conversation_id) if conversation_id else []
        self.conversation_id = conversation_id
        streaming = conversation_id is not None and conversation_id in queue.live
        live = self.live_text(conversation_id) if streaming and conversation_id else None
        await self.chat_view.show(conversation_id, messages, live)
        self.refresh_sidebar()
        self.update_context()

    def live_text(self, conversation_id: int) -> LiveText:
        """What the queue has streamed of the chat's reply: (answer, thinking) so far."""
        queue = self.controller.queue
        return lambda: (
            queue.live.get(conversation_id, ""),
            queue.live_thought.get(conversation_id),
        )

    def update_thinking(self) -> None:
        """The status bar's word on the chat's thinking (for a model that thinks)."""
        cid = self.conversation_id
        enable = self.controller.service.params(cid).enable_thinking if cid else None
        self.status.thinking = describe(self.controller.thinking, enable)

    async def counted(self, files: tuple[Attachment, ...]) -> list[Pending]:
        """The files with their tokens, as the loaded model counts them (None: no model), on
        a worker thread: a 1 MB file is ~300k tokens, most of a second to count."""
        engine = self.controller.engine
        if engine is None or engine.info is None:
            return [Pending(a, None) for a in files]
        counts = await asyncio.to_thread(count, engine, files)
        self.attachment_bar.counted_by = engine
        return [Pending(c.attachment, c.tokens) for c in counts]

    async def recount(self) -> None:
        bar = self.attachment_bar
        files = bar.files
        counted = await self.counted(files)
        if bar.files == files:  # not changed meanwhile
            bar.show_counts(counted)

    def update_context(self) -> None:
        """The status bar's context meter (with the chat's tools) and thinking switch."""
        self.update_thinking()
        engine, cid = self.controller.engine, self.conversation_id
        tools = self.controller.tools
        servers = tools.servers_of(self.controller.store, cid) if cid else []
        self.status.tools, specs = tool_meter(tools, servers, engine)
        if engine is None or engine.info is None:
            return
        bar = self.attachment_bar
        if bar.files and bar.counted_by is not engine:  # another model: its own tokens
            self.run_worker(self.recount(), group="count_files", exclusive=True)
        self.status.context_window = engine.info.context_window
        try:
            messages = self.controller.service.prompt_messages(cid) if cid else []
            used = engine.count_tokens(messages, specs) if messages else 0
            used = used or (engine.tool_tokens(specs) if specs else 0)
            self.status.context_used = used
        except Exception:
            self.status.context_used = 0
