"""One line: model and format, the chat's thinking (for a model that thinks), state, speed of
the last reply, context used."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from ..plain import visible

STATE_STYLE = {
    "no model": "$warning",
    "loading": "$warning",
    "ready": "$success",
    "generating": "$accent",
    "stopped": "$warning",
    "error": "$error",
}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    model: reactive[str] = reactive("no model")
    state: reactive[str] = reactive("no model")
    speed: reactive[float] = reactive(0.0)
    context_used: reactive[int] = reactive(0)
    context_window: reactive[int] = reactive(0)
    queued: reactive[int] = reactive(0)
    detail: reactive[str] = reactive("")
    thinking: reactive[str] = reactive("")  # "thinking on" / "thinking off" / "thinks always"

    def render(self) -> Content:
        parts = [Content.styled(visible(self.model), "bold")]
        if self.thinking:  # next to the model, so that a narrow bar still shows it
            parts.append(Content(self.thinking))
        parts.append(Content.styled(f"● {self.state}", STATE_STYLE.get(self.state, "$text")))
        if self.queued:
            parts.append(Content(f"{self.queued} queued"))
        if self.speed:
            parts.append(Content(f"{self.speed:.1f} tok/s"))
        if self.context_window:
            parts.append(Content(f"ctx {self.context_used}/{self.context_window}"))
        if self.detail:
            parts.append(Content(visible(self.detail)))
        return Content(" │ ").join(parts)
