"""The main screen: sidebar, conversation, prompt, status bar, footer. The app builds it
with a ``ChatController``, all it uses of the app.

Its widgets and what they show are in ``chat_base.py``, its key actions in
``chat_actions.py``; here are its events: from its widgets, and the streaming reply
(called by the app)."""

from __future__ import annotations

from ...chat.thinking import switch_only
from ...engine.types import ReplyStats
from ..bindings import APP_KEYS, HELP_QUESTION, make_bindings
from ..guard import guard_errors
from ..widgets.prompt_input import PromptInput
from ..widgets.sidebar import Sidebar
from .chat_tools import ToolActions


@guard_errors("open", "refresh_sidebar")
class ChatScreen(ToolActions):
    BINDINGS = [*make_bindings(APP_KEYS, priority=True), HELP_QUESTION]
    DEFAULT_CSS = """
    ChatScreen #main { height: 1fr; }
    ChatScreen PromptInput { margin: 0 1; }
    """

    async def on_mount(self) -> None:
        label = self.controller.model_label
        if label is not None:
            self.status.model = label
        self.status.state = self.controller.engine_state
        conversations = self.controller.store.list()
        await self.open(conversations[0].id if conversations else None)
        self.prompt.focus()

    # -- events from widgets ---------------------------------------------
    async def on_sidebar_selected(self, event: Sidebar.Selected) -> None:
        await self.open(event.conversation_id)
        self.prompt.focus()

    def on_sidebar_search_changed(self, event: Sidebar.SearchChanged) -> None:
        self.refresh_sidebar()

    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        text = await self.take_file_lines(event.text)  # "/file PATH" lines attach files
        files = self.attachment_bar.files
        if text is None or not (text.strip() or files):  # files alone are a message
            return
        controller = self.controller
        if controller.read_only:  # the text stays in the box
            self.notify(
                f"Not sent: {controller.read_only}.", title="Read-only window", severity="warning"
            )
            return
        switch = switch_only(text)
        if switch is not None:  # "/think" or "/no_think" alone: the chat's switch, not sent
            if await self.set_thinking(switch):
                self.prompt.clear()
            return
        if not await self.files_fit(text, files):  # the text and the files stay for another try
            return
        if controller.engine_state in ("no model", "error") and controller.engine is None:
            self.notify(
                "No model is loaded yet.",
                title="Set up a model first (f10) or pick one (f4).",
                severity="warning",
            )
        if self.conversation_id is None:
            self.conversation_id = controller.store.create().id
            await self.chat_view.show(self.conversation_id, [])
        controller.service.add_user_message(self.conversation_id, text, files)
        self.prompt.clear()
        await self.attachment_bar.clear()
        await self.chat_view.add_user(text, files)
        controller.queue.enqueue(self.conversation_id)
        self.refresh_sidebar()

    # -- streaming (called by the app) -----------------------------------
    async def reply_started(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id:
            await self.chat_view.start_reply(self.live_text(conversation_id))
            self.update_context()  # the prompt it answers, not 0 or the last chat's count
        self.status.state = "generating"
        self.refresh_sidebar()

    async def reply_chunk(self, conversation_id: int, text: str, reasoning: bool = False) -> None:
        if conversation_id != self.conversation_id or self.chat_view.stream is None:
            return
        if reasoning:
            await self.chat_view.append_thought(text)
            return
        thought = self.controller.queue.live_thought.get(conversation_id)
        await self.chat_view.append(text, thought.seconds if thought else None)

    async def reply_finished(
        self,
        conversation_id: int,
        text: str,
        stats: ReplyStats | None,
        error: str | None,
        reasoning: str = "",
        thinking_seconds: float | None = None,
        tool_limit: int = 0,
        between_rounds: bool = False,
    ) -> None:
        stopped = between_rounds or (stats is not None and stats.finish_reason == "cancelled")
        state = "error" if error else ("stopped" if stopped else "complete")
        if conversation_id == self.conversation_id and between_rounds:
            await self.add_note("⏹ stopped before the model answered", error=False)
        elif conversation_id == self.conversation_id:
            shown = stats.to_dict() if stats else None
            if shown is not None and thinking_seconds is not None:
                shown["thinking_seconds"] = thinking_seconds
            if shown is not None and tool_limit:
                shown["tool_limit"] = tool_limit
            await self.chat_view.finish_reply(text, state, shown, error, reasoning)
        if stats:
            self.status.speed = stats.decode_tokens_per_s
            self.status.context_used = stats.context_used
            self.status.context_window = stats.context_window
        self.status.state = "error" if error else ("stopped" if state == "stopped" else "ready")
        if error:
            self.notify(error, title="The reply failed", severity="error")
        self.refresh_sidebar()
