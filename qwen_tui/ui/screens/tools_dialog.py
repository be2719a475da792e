"""A chat's tools (f12): the [[mcp]] servers of config.toml, each with a switch for this chat,
its state, how many tools it has and how many prompt tokens their schemas take. A server
switched on starts at once (so its tools can be counted); Save keeps the switches for the
chat, Esc leaves them as they were."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Switch

from ..plain import PlainLabel, PlainStatic


@dataclass(frozen=True)
class ServerRow:
    """One server as the dialog shows it."""

    name: str
    where: str  # the command line or the URL
    enabled: bool  # False: enabled = false in config.toml
    state: str  # the client's: "not started", "starting", "ready", "failed", "stopped"
    detail: str = ""  # why it failed
    tools: int = 0
    tokens: int | None = None  # its tools' schemas, as the loaded model counts them

    def about(self) -> str:
        if not self.enabled:
            return "switched off in config.toml (enabled = false)"
        if self.state == "ready":
            count = f"{self.tools} tool{'s' * (self.tools != 1)}"
            if self.tokens is None:
                return f"ready · {count} (tokens counted once a model is loaded)"
            return f"ready · {count} · {self.tokens:,} tokens of the context"
        if self.state == "failed":
            return f"failed: {self.detail}" if self.detail else "failed"
        if self.state == "not started":
            return "starts when switched on"
        return f"{self.state}…" if self.state == "starting" else self.state


class ToolsScreen(ModalScreen[tuple[str, ...] | None]):
    """Returns the servers switched on (in the config's order), or None for Cancel."""

    DEFAULT_CSS = """
    ToolsScreen { align: center middle; }
    ToolsScreen > Vertical { width: 80; max-width: 95%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 1 2; }
    ToolsScreen .title { text-style: bold; margin-bottom: 1; }
    ToolsScreen VerticalScroll { height: auto; max-height: 20; }
    ToolsScreen .server { height: auto; margin-bottom: 1; }
    ToolsScreen .server Vertical { height: auto; width: 1fr; padding-left: 1; }
    ToolsScreen .muted { color: $text-muted; }
    ToolsScreen .buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ToolsScreen Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="tools_save"),
        Binding("escape", "cancel", "Cancel", id="tools_cancel"),
    ]

    def __init__(
        self,
        chat_title: str,
        rows: Sequence[ServerRow],
        chosen: Sequence[str],
        start: Callable[[list[str]], None],
    ) -> None:
        super().__init__()
        self.chat_title = chat_title
        self.rows = list(rows)
        self.chosen = set(chosen)
        self.start = start  # starts servers in the background; show_rows tells how it went

    def compose(self) -> ComposeResult:
        with Vertical():
            yield PlainLabel(f"Tools for this chat: {self.chat_title}", classes="title")
            with VerticalScroll():
                for i, row in enumerate(self.rows):
                    on = row.name in self.chosen and row.enabled
                    with Horizontal(classes="server"):
                        yield Switch(on, disabled=not row.enabled, id=f"switch-{i}")
                        with Vertical():
                            yield PlainStatic(f"{row.name}  ({row.where})")
                            yield PlainStatic(row.about(), classes="muted", id=f"about-{i}")
            yield PlainStatic(
                "The model sees every tool of the servers switched on, and their schemas "
                "take room in its context. You are asked before each call runs.",
                classes="muted",
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        first = next((s for s in self.query(Switch) if not s.disabled), None)
        if first is not None:
            first.focus()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        index = int((event.switch.id or "switch-0").removeprefix("switch-"))
        row = self.rows[index]
        if event.value and row.state in ("not started", "failed", "stopped"):
            self.start([row.name])
            self.query_one(f"#about-{index}", PlainStatic).update("starting…")

    def show_rows(self, rows: Sequence[ServerRow]) -> None:
        """The servers' states now (one has started or failed)."""
        self.rows = list(rows)
        for i, row in enumerate(self.rows):
            for label in self.query(f"#about-{i}").results(PlainStatic):
                label.update(row.about())

    def selected(self) -> tuple[str, ...]:
        on = {int(s.id.removeprefix("switch-")) for s in self.query(Switch) if s.value and s.id}
        return tuple(row.name for i, row in enumerate(self.rows) if i in on)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        self.dismiss(self.selected())

    def action_cancel(self) -> None:
        self.dismiss(None)
