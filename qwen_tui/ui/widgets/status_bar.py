"""One line: model and format, the chat's thinking (for a model that thinks), state, speed of
the last reply, context used (and how much of it the chat's tools take)."""

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
    "starting tools": "$accent",
    "running a tool": "$accent",
    "asking you": "$warning",
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
    tools: reactive[str] = reactive("")  # the chat's tools: "tools 850 tok" (ui/tool_meter.py)

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
            meter = f"ctx {self.context_used}/{self.context_window}"
            parts.append(Content(f"{meter} ({self.tools})" if self.tools else meter))
        elif self.tools:
            parts.append(Content(self.tools))
        if self.detail:
            parts.append(Content(visible(self.detail)))
        return Content(" │ ").join(parts)
