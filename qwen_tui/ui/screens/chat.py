"""The main screen: sidebar, conversation, prompt, status bar, footer."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ..bindings import APP_KEYS, HELP_QUESTION, make_bindings
from ..guard import guard_errors
from ..widgets.chat_view import ChatView
from ..widgets.prompt_input import PromptInput
from ..widgets.sidebar import Sidebar
from ..widgets.status_bar import StatusBar
from . import chat_actions

if TYPE_CHECKING:
    from ..app import QwenApp


@guard_errors("open", "refresh_sidebar")
class ChatScreen(Screen[None], chat_actions.ChatActions):
    BINDINGS = [*make_bindings(APP_KEYS, priority=True), HELP_QUESTION]
    DEFAULT_CSS = """
    ChatScreen #main { height: 1fr; }
    ChatScreen PromptInput { margin: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.conversation_id: int | None = None

    @property
    def qapp(self) -> QwenApp:
        return cast("QwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Sidebar()
        with Vertical(id="main"):
            yield ChatView(id="chat")
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
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    async def on_mount(self) -> None:
        app = self.qapp
        if app.model is not None:
            self.status.model = f"{app.model.name} · {app.model.low_bit}"
        self.status.state = app.engine_state
        conversations = self.qapp.store.list()
        await self.open(conversations[0].id if conversations else None)
        self.prompt.focus()

    # -- showing ---------------------------------------------------------
    def refresh_sidebar(self) -> None:
        queue = self.qapp.queue
        conversations = self.qapp.store.list(self.sidebar.query_text or None)
        self.sidebar.show(conversations, self.conversation_id, queue.current, queue.queued)
        self.status.queued = len(queue.queued)

    async def open(self, conversation_id: int | None) -> None:
        queue = self.qapp.queue
        # read first: a chat that cannot be read (a damaged page) leaves the open one open
        messages = self.qapp.store.messages(conversation_id) if conversation_id else []
        self.conversation_id = conversation_id
        streaming = conversation_id is not None and conversation_id in queue.live
        live = (lambda: queue.live.get(conversation_id, "")) if streaming else None
        await self.chat_view.show(conversation_id, messages, live)
        self.refresh_sidebar()
        self.update_context()

    def update_context(self) -> None:
        engine, cid = self.qapp.engine, self.conversation_id
        if engine is None or engine.info is None:
            return
        self.status.context_window = engine.info.context_window
        try:
            messages = self.qapp.service.prompt_messages(cid) if cid else []
            self.status.context_used = engine.count_tokens(messages) if messages else 0
        except Exception:
            self.status.context_used = 0

    # -- events from widgets ---------------------------------------------
    async def on_sidebar_selected(self, event: Sidebar.Selected) -> None:
        await self.open(event.conversation_id)
        self.prompt.focus()

    def on_sidebar_search_changed(self, event: Sidebar.SearchChanged) -> None:
        self.refresh_sidebar()

    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if not text.strip():
            return
        if self.qapp.read_only:  # the text stays in the box
            self.notify(
                f"Not sent: {self.qapp.read_only}.", title="Read-only window", severity="warning"
            )
            return
        if self.qapp.engine_state in ("no model", "error") and self.qapp.engine is None:
            self.notify(
                "No model is loaded yet.",
                title="Set up a model first (f10) or pick one (f4).",
                severity="warning",
            )
        if self.conversation_id is None:
            self.conversation_id = self.qapp.store.create().id
            await self.chat_view.show(self.conversation_id, [])
        self.qapp.service.add_user_message(self.conversation_id, text)
        self.prompt.clear()
        await self.chat_view.add_user(text)
        self.qapp.queue.enqueue(self.conversation_id)
        self.refresh_sidebar()

    # -- streaming (called by the app) -----------------------------------
    async def reply_started(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id:
            await self.chat_view.start_reply(lambda: self.qapp.queue.live.get(conversation_id, ""))
        self.status.state = "generating"
        self.refresh_sidebar()

    async def reply_chunk(self, conversation_id: int, text: str) -> None:
        if conversation_id == self.conversation_id and self.chat_view.stream is not None:
            await self.chat_view.append(text)

    async def reply_finished(
        self, conversation_id: int, text: str, stats, error: str | None
    ) -> None:
        state = (
            "error"
            if error
            else ("stopped" if stats and stats.finish_reason == "cancelled" else "complete")
        )
        if conversation_id == self.conversation_id:
            await self.chat_view.finish_reply(
                text, state, stats.to_dict() if stats else None, error
            )
        if stats:
            self.status.speed = stats.decode_tokens_per_s
            self.status.context_used = stats.context_used
            self.status.context_window = stats.context_window
        self.status.state = "error" if error else ("stopped" if state == "stopped" else "ready")
        if error:
            self.notify(error, title="The reply failed", severity="error")
        self.refresh_sidebar()
