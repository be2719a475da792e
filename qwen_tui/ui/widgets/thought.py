"""A reply's thinking, shown apart from its answer: dimmed plain text (never markup) under a
one-line heading. While the model thinks it is open and grows ("▾ Thinking…"); once the
answer starts it collapses to its heading ("▸ Thought for 12 s · its first line"). A click, or
Enter on it (focused with Tab), or the chat's toggle_thinking key opens and closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from ..plain import plain

CUT = {"stopped": "stopped", "error": "failed", "complete": "cut at max new tokens"}


def duration(seconds: float) -> str:
    """under 0.1 s, 3.1 s, 12 s, 2 min 5 s."""
    if seconds < 0.05:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def heading(
    text: str, seconds: float | None, *, streaming: bool, expanded: bool, cut: str | None
) -> str:
    """The thought's one line: what it is, how long it took, and (collapsed) how it begins."""
    if streaming:
        return "▾ Thinking…"
    took = f" for {duration(seconds)}" if seconds is not None else ""
    label = f"Thought{took}"
    if cut is not None:  # it got no further than thinking
        label += f" · {CUT.get(cut, cut)} before the answer"
    if expanded:
        return f"▾ {label}"
    begins = first_line(text)
    return f"▸ {label}" + (f" · {begins}" if begins else "")


class Thought(Widget, can_focus=True):
    DEFAULT_CSS = """
    Thought {
        height: auto;
        color: $text-muted;
        border-left: thick $accent 30%;
        padding: 0 1;
        margin: 1 0 0 0;
        pointer: pointer;
        & > #head { text-wrap: nowrap; text-overflow: ellipsis; text-style: italic; }
        & > #body { display: none; }
        &.-expanded { padding-bottom: 1; }
        &.-expanded > #body { display: block; }
        &:focus > #head { background: $boost; color: $text; }
        &:hover > #head { color: $text; }
    }
    """
    BINDINGS = [
        Binding("enter,space", "toggle", "Show/hide thinking", show=False, id="thought_toggle")
    ]
    FOCUS_ON_CLICK = False  # a click opens or closes it; the prompt keeps the focus

    expanded: reactive[bool] = reactive(False)

    def __init__(
        self,
        text: str = "",
        *,
        seconds: float | None = None,
        streaming: bool = False,
        cut: str | None = None,
    ) -> None:
        super().__init__()
        self.text = text
        self.seconds = seconds
        self.streaming = streaming
        self.cut = cut  # the reply's state when it ended before its answer, else None
        self.set_reactive(Thought.expanded, streaming or cut is not None)

    def compose(self) -> ComposeResult:
        yield Static(plain(self._heading()), id="head")
        yield Static(plain(self.text), id="body")

    def on_mount(self) -> None:
        self.set_class(self.expanded, "-expanded")

    def add(self, text: str) -> None:
        """More of the thinking, as it streams."""
        self.text += text
        if self.is_mounted:
            self.query_one("#body", Static).update(plain(self.text))

    def answered(self, seconds: float | None) -> None:
        """The answer began: the thought is whole; it collapses to its heading."""
        self.streaming = False
        self.seconds = seconds
        self.expanded = False
        self._show_heading()

    def toggle(self) -> None:
        self.expanded = not self.expanded

    def action_toggle(self) -> None:
        self.toggle()

    def on_click(self) -> None:
        self.toggle()

    def watch_expanded(self, expanded: bool) -> None:
        self.set_class(expanded, "-expanded")
        self._show_heading()

    def _heading(self) -> str:
        return heading(
            self.text, self.seconds, streaming=self.streaming, expanded=self.expanded, cut=self.cut
        )

    def _show_heading(self) -> None:
        if self.is_mounted:
            self.query_one("#head", Static).update(plain(self._heading()))
