"""The multi-line prompt: Enter sends, ctrl+j (or shift+enter) inserts a new line."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from ..bindings import PROMPT_KEYS, make_bindings


class PromptInput(TextArea):
    DEFAULT_CSS = """
    PromptInput { height: auto; min-height: 3; max-height: 10; border: round $primary 50%; }
    PromptInput:focus { border: round $primary; }
    """
    BINDINGS = make_bindings(PROMPT_KEYS)

    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.border_title = "Message"
        self.border_subtitle = "enter send · ctrl+j new line"

    async def _on_key(self, event: events.Key) -> None:
        # TextArea inserts a newline on Enter before bindings are checked; route it to send.
        # (Textual calls each class's _on_key in turn; prevent_default skips TextArea's.)
        if event.key == self._key_for("send"):
            event.stop()
            event.prevent_default()
            self.action_send()

    def _key_for(self, binding_id: str) -> str:
        keymap = getattr(self.app, "_keymap", {}) or {}
        keys = keymap.get(binding_id) or next(k for i, k, *_ in PROMPT_KEYS if i == binding_id)
        return keys.split(",")[0].strip()

    def action_send(self) -> None:
        self.post_message(self.Submitted(self, self.text))

    def action_newline(self) -> None:
        self.insert("\n")
