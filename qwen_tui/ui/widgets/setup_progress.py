"""Progress of a model setup: the stages, a bar, and bytes / speed / ETA while downloading."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...store.progress import Progress, human_bytes, human_seconds
from ..plain import PlainStatic

# Where each reported stage sits in the sequence; "check" is the start of whichever step
# reports it (the hub query before a download, the disk/memory check before quantizing).
# (Tensors are written as they are quantized: "save" is a stage only of the whole-model path
# that remote code and .bin folders take, and is shown as part of "quantize".)
ORDER = {"download": 1, "quantize": 2, "save": 2, "verify": 3, "done": 4}
HUB_STAGES = ("download", "quantize", "verify")
LOCAL_STAGES = ("quantize", "verify")


def describe(p: Progress) -> str:
    """One line for the report: bytes, speed and ETA while downloading, the step otherwise."""
    if p.stage == "download":
        rate = f"{human_bytes(p.rate)}/s" if p.rate else "…/s"
        return (
            f"{human_bytes(p.done)} / {human_bytes(p.total)}  ·  {rate}"
            f"  ·  ETA {human_seconds(p.eta)}"
        )
    if p.stage == "done":
        return "Finished."
    return (p.detail[:1].upper() + p.detail[1:] + "…") if p.detail else f"{p.stage.title()}…"


class SetupProgress(Vertical):
    """The stage line, a bar and a detail line; fed with :class:`Progress` reports."""

    DEFAULT_CSS = """
    SetupProgress { height: auto; }
    SetupProgress #stages { height: 1; margin-bottom: 1; }
    SetupProgress ProgressBar { height: 1; margin-bottom: 1; }
    SetupProgress ProgressBar Bar { width: 1fr; }
    SetupProgress #info { height: 1; }
    SetupProgress #detail { height: 1; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stages: tuple[str, ...] = HUB_STAGES
        self.current = 0  # ORDER index reached so far (monotonic)
        self.last: Progress | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="stages")
        yield ProgressBar(total=None, show_eta=False, id="bar")
        yield PlainStatic("Starting…", id="info")  # file and folder names: data
        yield PlainStatic("", id="detail")

    def on_mount(self) -> None:
        self._draw_stages()

    def reset(self, stages: tuple[str, ...]) -> None:
        self.stages, self.current, self.last = stages, 0, None
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one("#info", PlainStatic).update("Starting…")
        self.query_one("#detail", PlainStatic).update("")
        self._draw_stages()

    def update_progress(self, p: Progress) -> None:
        self.last = p
        index = ORDER.get(p.stage)
        if index is None:  # "check": the hub query (no total) or quantize's own check
            index = ORDER["quantize"] if p.total else ORDER["download"]
        self.current = max(self.current, index)
        bar = self.query_one(ProgressBar)
        if p.total:
            bar.update(total=p.total, progress=min(p.done, p.total))
        else:
            bar.update(total=None, progress=0)
        self.query_one("#info", PlainStatic).update(describe(p))
        detail = p.detail if p.stage == "download" else ""
        self.query_one("#detail", PlainStatic).update(detail)
        self._draw_stages()

    def _draw_stages(self) -> None:
        parts = []
        for stage in self.stages:
            index = ORDER[stage]
            if index < self.current:
                parts.append(f"[$success]✓ {stage}[/]")
            elif index == self.current:
                parts.append(f"[b $accent]▸ {stage}[/]")
            else:
                parts.append(f"[dim]· {stage}[/]")
        self.query_one("#stages", Static).update("   ".join(parts))
