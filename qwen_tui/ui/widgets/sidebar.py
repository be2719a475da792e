"""Conversations, most recent first, with search-as-you-type over titles and text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from ...history import Conversation
from ..plain import plain


class Sidebar(Vertical):
    DEFAULT_CSS = """
    Sidebar { width: 28; dock: left; border-right: vkey $primary 30%; }
    Sidebar.hidden { display: none; }
    Sidebar #search { border: round $primary 40%; height: 3; }
    Sidebar #search:focus { border: round $primary; }
    Sidebar #conversations { height: 1fr; border: none; padding: 0; }
    """

    class Selected(Message):
        def __init__(self, conversation_id: int) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class SearchChanged(Message):
        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search (ctrl+f)", id="search")
        yield OptionList(id="conversations")

    @property
    def query_text(self) -> str:
        return self.query_one("#search", Input).value

    def show(
        self,
        conversations: list[Conversation],
        selected: int | None,
        generating: int | None,
        queued: set[int],
    ) -> None:
        options = self.query_one("#conversations", OptionList)
        options.clear_options()
        for conv in conversations:
            mark = "● " if conv.id == generating else ("… " if conv.id in queued else "")
            options.add_option(Option(plain(f"{mark}{conv.title}"), id=f"c{conv.id}"))
        try:
            options.highlighted = options.get_option_index(f"c{selected}")
        except Exception:  # the open chat is filtered out: offer the first result
            options.highlighted = 0 if conversations else None

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.SearchChanged(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#conversations", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Selected(int(event.option.id[1:])))
