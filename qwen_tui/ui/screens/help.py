"""Every binding, as remapped by the config file's [keys] table."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ... import paths
from ..bindings import describe_keys
from ..plain import visible


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 98%; height: 90%;
        border: round $primary; background: $surface; padding: 0 1; }
    HelpScreen DataTable { height: auto; }
    HelpScreen .hint { color: $text-muted; margin: 1 0; }
    """
    BINDINGS = [Binding("escape,f1,q", "close", "Close", id="help_close")]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]qwen-tui keys[/b]")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Static(
                f"Remap any key in {paths.config_file()} with a [keys] table, e.g.\n"
                '  [keys]\n  regenerate = "ctrl+r,f6"\n'
                "Every action is also in the command palette (ctrl+p). Esc closes this.",
                classes="hint",
                markup=False,
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Keys", "Action", "Id (for \\[keys])")
        for keys, description, binding_id in describe_keys(self.keymap):
            shown = keys.replace("question_mark", "?").replace(",", " / ")
            # the keys come from the config file: text, never markup
            table.add_row(Text(visible(shown)), description, binding_id)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
