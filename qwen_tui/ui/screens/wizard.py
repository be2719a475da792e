"""First-run wizard: choose a model (or a local folder), download and quantize it, return it."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, ContentSwitcher, Input, OptionList, Static
from textual.worker import Worker, WorkerState

from ...catalog import DEFAULT_LOW_BIT
from ...errors import Cancelled, QwenTuiError
from ...remotes import RemoteEntry
from ...store.local import LocalModel
from ...store.progress import Progress
from ...store.pull import pull
from ...store.quantize import quantize_folder
from ..plain import PlainStatic
from ..widgets.model_choice import HUB, SERVER, Job, ModelChoice
from ..widgets.setup_progress import HUB_STAGES, LOCAL_STAGES, SetupProgress

KEYS_HELP = "Tab/arrows move · Enter starts · Esc closes"


class WizardScreen(ModalScreen[LocalModel | RemoteEntry | None]):
    """Set up a model: pick, download, quantize; or connect to a server. Dismisses with the
    LocalModel, the [[remote]] entry to save, or None."""

    class ProgressUpdate(Message):
        """A progress report from the setup worker (posted from its thread; bubbles)."""

        def __init__(self, progress: Progress, run: int) -> None:
            super().__init__()
            self.progress = progress
            self.run = run

    DEFAULT_CSS = """
    WizardScreen { align: center middle; }
    WizardScreen #dialog {
        width: 100%; max-width: 84; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    WizardScreen #title { text-style: bold; }
    WizardScreen #keys { color: $text-muted; }
    WizardScreen ContentSwitcher, WizardScreen ContentSwitcher > Vertical { height: auto; }
    WizardScreen .buttons { height: auto; margin-top: 1; }
    WizardScreen .buttons Button { margin-right: 1; }
    WizardScreen #what, WizardScreen #stopped-title { text-style: bold; margin: 1 0; }
    WizardScreen #stopped-title.failed { color: $error; }
    WizardScreen #message { margin-bottom: 1; }
    WizardScreen #hint { color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "escape", "Close / cancel", id="wizard_close"),
        Binding("enter", "start", "Start", show=False, id="wizard_start"),
    ]
    AUTO_FOCUS = "#models"

    def __init__(
        self,
        endpoint: str | None = None,
        low_bit: str = DEFAULT_LOW_BIT,
        first_run: bool = True,
        token_mirrors: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.token_mirrors = token_mirrors
        self.low_bit = low_bit
        self.first_run = first_run
        self.step = "choose"  # "choose" | "progress" | "stopped"
        self.job: Job | None = None
        self._cancel = threading.Event()
        self._run_id = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            title = "Set up a model"
            if self.first_run:
                title = "Welcome to qwen-tui: set up a chat model"
            yield Static(title, id="title")
            with ContentSwitcher(initial="choose", id="steps"):
                yield ModelChoice(self.low_bit, id="choose")
                with Vertical(id="progress"):
                    yield PlainStatic(id="what")
                    yield SetupProgress(id="setup")
                    with Horizontal(classes="buttons"):
                        yield Button("Cancel", variant="error", id="cancel")
                with Vertical(id="stopped"):
                    yield Static(id="stopped-title")
                    yield PlainStatic(id="message")
                    yield PlainStatic(id="hint")
                    with Horizontal(classes="buttons"):
                        yield Button("Retry", variant="primary", id="again")
                        yield Button("Back", id="back")
                        yield Button("Close", id="close-stopped")
            yield Static(KEYS_HELP, id="keys")

    @property
    def choice(self) -> ModelChoice:
        return self.query_one(ModelChoice)

    def on_option_list_option_selected(self, _: OptionList.OptionSelected) -> None:
        self.action_start()

    def on_input_submitted(self, _: Input.Submitted) -> None:
        self.action_start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "start": self.action_start,
            "cancel": self.action_cancel,
            "again": self.action_again,
            "back": self.action_back,
            "close": self.action_close,
            "close-stopped": self.action_close,
        }
        action = actions.get(event.button.id or "")
        if action:
            action()

    # -- actions -----------------------------------------------------------------------------
    def action_start(self) -> None:
        if self.step != "choose":
            return
        if not self.choice.refresh_check():
            self.app.bell()
            return
        if self.choice.route == SERVER:  # nothing to download: the app saves and connects
            self.dismiss(self.choice.make_remote())
            return
        self.job = self.choice.make_job()
        self._launch()

    def action_again(self) -> None:
        if self.step == "stopped" and self.job is not None:
            self._launch()

    def action_back(self) -> None:
        if self.step == "stopped":
            self._show_step("choose")
            self.choice.refresh_check()
            self.choice.focus_first()

    def action_cancel(self) -> None:
        if self.step == "progress" and not self._cancel.is_set():
            self._cancel.set()
            button = self.query_one("#cancel", Button)
            button.label, button.disabled = "Cancelling…", True

    def action_close(self) -> None:
        if self.step != "progress":
            self.dismiss(None)

    def action_escape(self) -> None:
        if self.step == "progress":
            self.action_cancel()
        else:
            self.dismiss(None)

    # -- step 2: progress --------------------------------------------------------------------
    def _show_step(self, step: str) -> None:
        self.step = step
        self.query_one("#steps", ContentSwitcher).current = step
        self.query_one("#keys", Static).update(
            "Esc cancels"
            if step == "progress"
            else KEYS_HELP
            if step == "choose"
            else "Tab moves · Enter presses · Esc closes"
        )

    def _launch(self) -> None:
        job = self.job
        assert job is not None
        self._cancel = threading.Event()
        self._run_id += 1
        self._show_step("progress")
        self.query_one(SetupProgress).reset(HUB_STAGES if job.route == HUB else LOCAL_STAGES)
        verb = "Downloading and quantizing" if job.route == HUB else "Quantizing"
        self.query_one("#what", PlainStatic).update(f"{verb} {job.source} to {job.low_bit}")
        cancel = self.query_one("#cancel", Button)
        cancel.label, cancel.disabled = "Cancel", False
        cancel.focus()
        self._run(job, self._cancel, self._run_id)

    @work(thread=True, exclusive=True, group="setup", exit_on_error=False)
    def _run(
        self, job: Job, cancel: threading.Event, run: int
    ) -> tuple[LocalModel | None, Exception | None]:
        def report(p: Progress) -> None:  # in the worker thread: post, never touch widgets
            self.post_message(self.ProgressUpdate(p, run))

        try:
            if job.route == HUB:
                model = pull(
                    job.source,
                    low_bit=job.low_bit,
                    endpoint=self.endpoint,
                    token_mirrors=self.token_mirrors,
                    progress=report,
                    cancel=cancel,
                )
            else:
                model = quantize_folder(
                    Path(job.source),
                    job.name or "model",
                    job.low_bit,
                    trust_remote_code=job.trust_remote_code,
                    progress=report,
                    cancel=cancel,
                )
        except Exception as exc:  # shown as one sentence on the screen, never a traceback
            return None, exc
        return model, None

    def on_wizard_screen_progress_update(self, message: ProgressUpdate) -> None:
        if message.run == self._run_id and self.step == "progress":
            self.query_one(SetupProgress).update_progress(message.progress)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "setup" or self.step != "progress":
            return
        if event.state == WorkerState.SUCCESS:
            model, error = event.worker.result or (None, None)
        elif event.state == WorkerState.ERROR:
            model, error = None, event.worker.error
        else:
            return
        if model is not None:
            self.dismiss(model)
        else:
            self._show_stopped(error)

    # -- stopped: cancelled or failed --------------------------------------------------------
    def _show_stopped(self, error: BaseException | None) -> None:
        cancelled = self._cancel.is_set() or isinstance(error, Cancelled)
        again = self.query_one("#again", Button)
        title = self.query_one("#stopped-title", Static)
        if cancelled:
            heading, again.label = "Cancelled", "Resume"
            message = error.message if isinstance(error, QwenTuiError) else "Setup stopped."
            hint = (
                "Resume picks up where it stopped: the downloaded part is kept."
                if self.job and self.job.route == HUB
                else "Resume starts quantizing again; nothing half-done was kept."
            )
        elif isinstance(error, QwenTuiError):
            heading, again.label = "Setup failed", "Retry"
            message, hint = error.message, error.hint
        else:
            heading, again.label = "Setup failed", "Retry"
            message = f"{type(error).__name__}: {error}" if error else "Setup failed."
            hint = "This was unexpected: Retry, or go Back and choose another route."
        title.update(heading)
        title.set_class(not cancelled, "failed")
        self.query_one("#message", PlainStatic).update(message)
        self.query_one("#hint", PlainStatic).update(hint)
        self._show_step("stopped")
        again.focus()

    def on_unmount(self) -> None:
        self._cancel.set()  # a worker still running stops at its next check
