"""Step 1 of the setup wizard: a catalog model or a local folder, a low-bit format, and a
live disk and memory check that enables the Start button only when the choice fits. The model
offered first is the catalog's pick for this machine's memory (``catalog.wizard_entries``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from ... import paths
from ...catalog import GB, LOW_BIT_FORMATS, CatalogEntry, wizard_entries
from ...errors import QwenTuiError
from ...remote_code import needs_remote_code
from ...remotes import RemoteEntry
from ...store import resources
from ...store.gguf_import import estimate_gguf_needs, is_gguf
from ...store.progress import human_bytes
from ...store.source import (
    estimate_needs,
    has_safetensors,
    read_source_config,
    weights_size,
)
from ..plain import PlainStatic
from .server_choice import ServerChoice

HUB, FOLDER, SERVER = "hub", "folder", "server"


@dataclass(frozen=True)
class Job:
    """What to set up: ``route`` HUB (``source`` a repo id) or FOLDER (``source`` a path)."""

    route: str
    source: str
    low_bit: str
    name: str | None = None
    trust_remote_code: bool = False


def model_row(entry: CatalogEntry, low_bit: str) -> str:
    """One line of the list: 69 columns, what the list has beside its scroll bar at 80."""
    return (
        f"{entry.repo_id:<27}{entry.download_gb:>5.1f} GB{entry.stored_gb(low_bit):>6.2f} GB"
        f"{entry.ram_to_chat(low_bit) / GB:>6.1f} GB  {entry.licence_short}"
    )


def header_row(low_bit: str) -> str:
    return f"{'Model':<27}{'Download':>8}{'Stored':>9}{'Chat RAM':>9}  Licence"


class ModelChoice(Vertical):
    """The choose step. Read :meth:`make_job` after :meth:`refresh_check` returned True."""

    DEFAULT_CSS = """
    ModelChoice { height: auto; }
    ModelChoice #intro, ModelChoice #about, ModelChoice #columns { color: $text-muted; }
    ModelChoice TabPane { padding: 0; }
    ModelChoice #columns { padding: 0 2; }
    ModelChoice #models { height: auto; max-height: 9; }
    ModelChoice #about { height: 1; }
    ModelChoice #check { height: auto; max-height: 2; color: $success; }
    ModelChoice #check.bad { color: $error; }
    ModelChoice #check.pending { color: $text-muted; }
    ModelChoice #actions { height: auto; }
    ModelChoice #actions Label { padding: 1 1 0 0; }
    ModelChoice #low-bit { width: 18; margin-right: 1; }
    ModelChoice #actions Button { margin-right: 1; }
    """

    def __init__(self, low_bit: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.initial_low_bit = low_bit if low_bit in LOW_BIT_FORMATS else LOW_BIT_FORMATS[0]
        self.entries = wizard_entries(resources.available_ram(), self.initial_low_bit)

    def compose(self) -> ComposeResult:
        low_bit = self.initial_low_bit
        yield Static(
            "Download a model, use a folder you already have, or connect to a server.", id="intro"
        )
        with TabbedContent(id="route"):
            with TabPane("From the hub", id=HUB):
                yield Static(header_row(low_bit), id="columns")
                yield OptionList(*(model_row(e, low_bit) for e in self.entries), id="models")
                yield PlainStatic(id="about")
            with TabPane("Use a local folder", id=FOLDER):
                yield Input(
                    placeholder="A Hugging Face model folder (with config.json) or a .gguf file",
                    id="path",
                )
                yield Input(placeholder="Name (default: the folder's or file's name)", id="name")
                yield Checkbox("Trust remote code (only needed for non-Qwen-1 code)", id="trust")
            with TabPane("Connect to a server", id=SERVER):
                yield ServerChoice(id="server-choice")
        yield PlainStatic(id="check")  # quotes typed paths
        with Horizontal(id="actions"):
            yield Label("Low-bit", id="low-bit-label")
            yield Select(
                [(f, f) for f in LOW_BIT_FORMATS], value=low_bit, allow_blank=False, id="low-bit"
            )
            yield Button("Start", variant="primary", id="start")
            yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#models", OptionList).highlighted = 0  # the one offered first
        self.refresh_check()

    @property
    def route(self) -> str:
        return self.query_one("#route", TabbedContent).active or HUB

    @property
    def low_bit(self) -> str:
        value = self.query_one("#low-bit", Select).value
        return value if isinstance(value, str) else self.initial_low_bit

    def selected_entry(self) -> CatalogEntry:
        index = self.query_one("#models", OptionList).highlighted
        return self.entries[index or 0]

    def focus_first(self) -> None:
        if self.route == SERVER:
            self.query_one(ServerChoice).focus_first()
            return
        self.query_one("#models" if self.route == HUB else "#path").focus()

    def make_remote(self) -> RemoteEntry:
        """The [[remote]] entry the "Connect to a server" tab describes (once it is ready)."""
        return self.query_one(ServerChoice).entry()

    def make_job(self) -> Job:
        if self.route == HUB:
            return Job(HUB, self.selected_entry().repo_id, self.low_bit)
        src = Path(self.query_one("#path", Input).value.strip()).expanduser()
        default = src.stem if src.suffix.lower() == ".gguf" else src.resolve().name
        name = self.query_one("#name", Input).value.strip() or default.lower()
        trust = self.query_one("#trust", Checkbox).value
        return Job(FOLDER, str(src), self.low_bit, name, trust)

    def _needs(self) -> tuple[int, int] | str:
        """(disk, RAM) bytes the current choice needs, or why it cannot start."""
        if self.route == HUB:
            entry = self.selected_entry()
            disk = entry.download_bytes + entry.disk_bytes(self.low_bit)
            return disk, entry.ram_to_quantize(self.low_bit)
        text = self.query_one("#path", Input).value.strip()
        if not text:
            return ""
        src = Path(text).expanduser()
        if src.is_file():
            if not is_gguf(src):
                return f"{src.name} is not a GGUF file (nor a folder with config.json)."
            try:
                return estimate_gguf_needs(src, self.low_bit)
            except QwenTuiError as exc:
                return exc.message
        if not (src / "config.json").is_file():
            return f"No config.json in {src}."
        try:
            config = read_source_config(src)
            if not weights_size(src):
                return f"No weight files in {src}."
            whole = not has_safetensors(src)  # .bin files: through the float model
            needs = estimate_needs(config, src, self.low_bit, whole_model=whole)
        except QwenTuiError as exc:
            return exc.message
        except (OSError, ValueError, TypeError) as exc:
            return f"Cannot read {src}: {exc}."
        trusted = self.query_one("#trust", Checkbox).value
        if needs_remote_code(config) and not trusted:
            return "This model runs its own Python code: tick “Trust remote code” if you trust it."
        return needs

    def refresh_check(self) -> bool:
        """Update the disk and memory line and the Start button; True when it can start."""
        check = self.query_one("#check", PlainStatic)
        for widget in self.query("#low-bit, #low-bit-label"):
            widget.display = self.route != SERVER  # nothing is quantized for a server
        if self.route == SERVER:
            server = self.query_one(ServerChoice)
            line, bad = server.status()
            check.update(line)
            check.set_class(bad, "bad")
            check.set_class(not bad and not server.ready, "pending")
            self.query_one("#start", Button).disabled = not server.ready
            return server.ready
        needs = self._needs()
        if isinstance(needs, str):
            ok, pending = False, not needs
            lines = [
                needs or "Type the path of a model folder (config.json and weights) or a .gguf."
            ]
        else:
            disk, ram = needs
            free = resources.free_disk(paths.cache_dir())
            avail = resources.available_ram()
            ok, pending = free >= disk and avail >= ram, False
            lines = [
                f"{'✓' if ok else '✗'} Disk: needs {human_bytes(disk)}, {human_bytes(free)} "
                f"free · RAM: needs {human_bytes(ram)}, {human_bytes(avail)} free"
            ]
            if free < disk:
                lines.append("Not enough disk: free some or set QWEN_TUI_CACHE_DIR elsewhere.")
            elif avail < ram:
                lines.append("Not enough memory: close other programs or pick a smaller model.")
        check.update("\n".join(lines))
        check.set_class(not ok and not pending, "bad")
        check.set_class(pending, "pending")
        self.query_one("#start", Button).disabled = not ok
        return ok

    def _refresh_about(self) -> None:
        entry = self.selected_entry()
        self.query_one("#about", PlainStatic).update(
            f"{entry.good_for} · pinned {entry.revision[:7]}"
        )

    def on_option_list_option_highlighted(self, _: OptionList.OptionHighlighted) -> None:
        self._refresh_about()
        self.refresh_check()

    def on_select_changed(self, _: Select.Changed) -> None:
        self.query_one("#columns", Static).update(header_row(self.low_bit))
        models = self.query_one("#models", OptionList)
        for index, entry in enumerate(self.entries):
            models.replace_option_prompt_at_index(index, model_row(entry, self.low_bit))
        self.refresh_check()

    def on_tabbed_content_tab_activated(self, _: TabbedContent.TabActivated) -> None:
        self.refresh_check()

    def on_input_changed(self, _: Input.Changed) -> None:
        self.refresh_check()

    def on_checkbox_changed(self, _: Checkbox.Changed) -> None:
        self.refresh_check()

    def on_server_choice_changed(self, _: ServerChoice.Changed) -> None:
        self.refresh_check()
