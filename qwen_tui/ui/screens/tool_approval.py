"""Before a tool runs: the call (its chat, server, tool and arguments, as plain text) and three
answers: run it once, always for this tool in this chat, or refuse. Esc refuses and stops the
reply. The reply waits meanwhile; if it is stopped some other way, the question goes away.

Refuse has the focus, and no letter answers: text typed into the prompt when the question
appears, Enter included, can never allow a call."""

from __future__ import annotations

import json
from concurrent.futures import Future, InvalidStateError

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from ...chat.tools import Approval, ToolOrigin
from ...engine.types import ToolCall
from ..plain import PlainLabel, PlainStatic

ANSWERS = {"once": Approval.ONCE, "always": Approval.ALWAYS, "refuse": Approval.REFUSE}


def pretty_arguments(call: ToolCall) -> str:
    """The arguments as indented JSON (as the model wrote them, if they are not JSON)."""
    try:
        return json.dumps(json.loads(call.arguments), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return call.arguments


class ToolApprovalScreen(ModalScreen[Approval | None]):
    """Returns the Approval, or None for Esc (refuse and stop)."""

    DEFAULT_CSS = """
    ToolApprovalScreen { align: center middle; }
    ToolApprovalScreen > Vertical { width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: round $warning; background: $surface; padding: 1 2; }
    ToolApprovalScreen .title { text-style: bold; margin-bottom: 1; }
    ToolApprovalScreen .muted { color: $text-muted; }
    ToolApprovalScreen VerticalScroll { height: auto; max-height: 14; background: $boost;
        padding: 0 1; margin: 1 0; }
    ToolApprovalScreen Horizontal { height: auto; align-horizontal: right; }
    ToolApprovalScreen Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "stop", "Refuse and stop", id="tool_approval_stop"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]
    CHECK_EVERY = 0.1  # seconds between looks at whether the reply still waits

    def __init__(
        self, chat_title: str, call: ToolCall, origin: ToolOrigin, answer: Future[Approval]
    ) -> None:
        super().__init__()
        self.chat_title = chat_title
        self.call = call
        self.origin = origin
        self.answer = answer

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("The model calls a tool", classes="title")
            yield PlainLabel(f"Chat: {self.chat_title}", classes="muted")
            yield PlainLabel(f"Server: {self.origin.server}    Tool: {self.origin.tool}")
            with VerticalScroll():
                yield PlainStatic(pretty_arguments(self.call), id="arguments")
            with Horizontal():
                yield Button("Run once", id="once", variant="primary")
                yield Button(f"Always run {self.origin.tool} in this chat", id="always")
                yield Button("Refuse", id="refuse", variant="error")
            yield Label(
                "←/→ choose · Enter answers · Esc refuses and stops the reply", classes="muted"
            )

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()
        self.set_interval(self.CHECK_EVERY, self._still_asked)

    def _still_asked(self) -> None:
        if self.answer.cancelled() and self.is_current:  # the reply stopped meanwhile
            self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(ANSWERS[event.button.id or "refuse"])

    def action_stop(self) -> None:
        self.dismiss(None)


def give(answer: Future[Approval], approval: Approval) -> None:
    """Hand the reply its answer, unless it stopped waiting meanwhile."""
    try:
        if not answer.done():
            answer.set_result(approval)
    except InvalidStateError:  # cancelled between the look and the answer
        pass
