"""A reply's tool calls in the conversation: each call as one line (the server, the tool, its
arguments as plain text, never markup), and under it the call's result folded as a thought is
(``ToolResultView``: one heading line, opened with a click, Enter when focused, or the
toggle_thinking key). A call the user refused, one stopped, and one whose server failed read
so in their heading.

``ToolViews`` builds them from stored messages, pairing each "tool" message with its call."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget

from ...ask_tools import shown_arguments
from ...chat.tool_loop import NOT_RUN, REFUSED
from ...engine.types import ToolCall
from ...history import Message
from ..plain import PlainStatic
from .thought import Thought, first_line

ERROR = "Error: "  # how a failed call's result reads to the model (tool_loop.tool_message)


def result_kind(text: str) -> str:
    """ "ok", "refused", "stopped" or "failed", from a result's stored text."""
    if not text.lower().startswith("error"):  # as tool_message reads a failure
        return "ok"
    said = text.removeprefix(ERROR)
    if said == REFUSED:
        return "refused"
    if said == NOT_RUN or said.startswith("Stopped while "):
        return "stopped"
    return "failed"


def tool_of(name: str, server: str | None) -> str:
    """The tool's own name: the model's name without its server's prefix."""
    return name.removeprefix(f"{server}__") if server else name


class ToolResultView(Thought):
    """A call's result (the text the model was given), folded to one line."""

    DEFAULT_CSS = """
    ToolResultView { border-left: thick $secondary 40%; margin: 0; }
    ToolResultView.-failed > #head { color: $error; }
    ToolResultView.-refused > #head, ToolResultView.-stopped > #head { color: $warning; }
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.kind = result_kind(text)
        self.add_class(f"-{self.kind}")

    def _heading(self) -> str:
        said = self.text.removeprefix(ERROR) if self.kind != "ok" else self.text
        line = first_line(said)
        if self.kind == "refused":
            return "✗ Refused: the model was told you did not allow it"
        if self.kind == "stopped":
            return f"⏹ {line}"
        if self.kind == "failed":
            return f"⚠ Failed: {line}"
        size = f"{len(self.text):,} character{'s' * (len(self.text) != 1)}"
        if self.expanded:
            return f"▾ Result · {size}"
        return f"▸ Result · {size}" + (f" · {line}" if line else "")


class ToolCallView(Widget):
    """One call the model made: its line, then its result once there is one."""

    DEFAULT_CSS = """
    ToolCallView { height: auto; margin: 1 0 0 0; }
    ToolCallView > .call { border-left: thick $secondary; padding: 0 1; color: $text; }
    """

    def __init__(self, call: ToolCall, server: str | None) -> None:
        super().__init__()
        self.call = call
        self.server = server
        self.result: ToolResultView | None = None

    @property
    def call_id(self) -> str:
        return self.call.id

    def line(self) -> str:
        where = f"{self.server} · {tool_of(self.call.name, self.server)}" if self.server else None
        where = where or f"{self.call.name} (no server offers it)"
        return f"⚙ {where}  {shown_arguments(self.call)}"

    def compose(self) -> ComposeResult:
        yield PlainStatic(self.line(), classes="call")
        if self.result is not None:
            yield self.result

    async def show_result(self, text: str) -> None:
        """The call's result; the first one given is kept."""
        if self.result is not None:
            return
        self.result = ToolResultView(text)
        if self.is_mounted:
            await self.mount(self.result)


class ToolViews:
    """Builds the views of a conversation's calls and results, in order, pairing each
    result with the call it answers (a result whose call is not there stands alone)."""

    def __init__(self) -> None:
        self.calls: dict[str, ToolCallView] = {}

    def calls_of(self, message: Message) -> list[ToolCallView]:
        views = [ToolCallView(c, message.tool_servers.get(c.id)) for c in message.tool_calls]
        self.calls.update((v.call_id, v) for v in views)
        return views

    def result(self, message: Message) -> list[Widget]:
        """Nothing when its call's view takes it; else a view of its own."""
        view = self.calls.get(message.tool_call_id)
        if view is not None and view.result is None:
            view.result = ToolResultView(message.content)
            return []
        return [ToolResultView(message.content)]
