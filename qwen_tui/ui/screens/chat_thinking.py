"""The chat screen's thinking actions: show or hide a reply's thought (toggle_thinking),
and the chat's switch (thinking_switch, and a message that is only ``/think`` or
``/no_think``). ``ChatActions`` is built on these, these on ``ChatBase``."""

from __future__ import annotations

from ..widgets.thought import Thought
from .chat_base import ChatBase

NO_SWITCH = {
    "none": "This model does not think: there is nothing to switch.",
    "always": "This model always thinks: it has no switch.",
}


class ThinkingActions(ChatBase):
    def action_toggle_thinking(self) -> None:
        """Open or close the focused thought, else the newest one in the chat."""
        focused = self.focused
        if isinstance(focused, Thought):
            focused.toggle()
            return
        thoughts = self.chat_view.thoughts()
        if not thoughts:
            self.notify("No reply in this chat has any thinking to show.", severity="warning")
            return
        newest = thoughts[-1]
        newest.toggle()
        if newest.expanded:
            self.chat_view.scroll_to_widget(newest, animate=False, top=True)

    async def set_thinking(self, enable: bool) -> bool:
        """Turn the chat's thinking on or off (from its next reply); False if the loaded
        model has no switch (nothing changes, and the notice says why)."""
        thinking = self.controller.thinking
        if self.controller.engine is not None and thinking in NO_SWITCH:
            self.notify(NO_SWITCH[thinking], title="Not changed", severity="warning")
            return False
        if self.conversation_id is None:
            self.conversation_id = self.controller.store.create().id
            await self.chat_view.show(self.conversation_id, [])
            self.refresh_sidebar()
        self.controller.service.set_thinking(self.conversation_id, enable)
        self.update_thinking()
        self.notify(
            "Thinking on for this chat, from its next reply."
            if enable
            else "Thinking off for this chat: replies answer at once, from the next one.",
            title="/think" if enable else "/no_think",
        )
        return True

    async def action_thinking_switch(self) -> None:
        """Flip the chat's thinking (the model's default counts as on)."""
        cid = self.conversation_id
        current = self.controller.service.params(cid).enable_thinking if cid else None
        await self.set_thinking(current is False)
