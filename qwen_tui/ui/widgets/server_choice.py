"""The wizard's "Connect to a server" pane: an OpenAI-compatible server's base URL, the
variable holding its key, a model from the ids it lists (asked as soon as the URL is typed),
and a name. Read :meth:`entry` once :attr:`ready`."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Select
from textual.worker import Worker, WorkerState

from ...engine.remote import RemoteError, ServerInfo, client, probe
from ...remotes import RemoteEntry, check_base_url, check_env_name
from ..plain import plain

ASK_AFTER = 0.6  # seconds of no typing before the server is asked for its models
FLAVORS = {
    "vllm": "vLLM",
    "llama.cpp": "llama-server",
    "ollama": "ollama",
    "qwen-tui": "qwen-tui serve",
}


def ask_server(base_url: str, key_env: str | None) -> ServerInfo:
    """What the server at ``base_url`` serves (raises RemoteError with one sentence)."""
    entry = RemoteEntry("", base_url, "", key_env)  # no name: errors point at the form
    with client(entry) as http:
        return probe(entry, http, need_model=False)


class ServerChoice(Vertical):
    DEFAULT_CSS = """
    ServerChoice { height: auto; }
    """

    class Changed(Message):
        """What the pane can say about the server changed (``status`` to show again)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info: ServerInfo | None = None
        self.problem = ""  # why the server cannot be used, one sentence
        self.asking = False
        self._asked: tuple[str, str | None] | None = None
        self._timer = None

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="Base URL: http://localhost:11434/v1 (ollama), http://gpu-box:8000/v1 …",
            id="server-url",
        )
        yield Input(
            placeholder="API key's environment variable (optional), e.g. OPENAI_API_KEY",
            id="server-key-env",
        )
        yield Select[str]([], prompt="Model (from the server's list)", id="server-model")
        yield Input(placeholder="Name (default: the model id)", id="server-name")

    # -- what the user typed ------------------------------------------------------------
    def _typed(self) -> tuple[str, str | None] | str:
        """(base URL, key variable or None), or why they cannot be used."""
        url = self.query_one("#server-url", Input).value.strip()
        env = self.query_one("#server-key-env", Input).value.strip()
        if not url:
            return ""
        try:
            return check_base_url(url), (check_env_name(env) if env else None)
        except ValueError as exc:
            return f"{str(exc)[0].upper()}{str(exc)[1:]}."

    @property
    def model(self) -> str | None:
        value = self.query_one("#server-model", Select).value
        return value if isinstance(value, str) else None

    @property
    def ready(self) -> bool:
        return self.info is not None and self.model is not None and not self.asking

    def status(self) -> tuple[str, bool]:
        """(the line to show, whether it is a problem)."""
        typed = self._typed()
        if isinstance(typed, str):
            return (
                typed or "Type the server's base URL (the API root, usually ending in /v1).",
                bool(typed),
            )
        if self.asking:
            return f"Asking {typed[0]} for its models…", False
        if self.problem:
            return self.problem, True
        if self.info is None:
            return "", False
        if not self.info.models:
            return "The server lists no model: load one on it, then type the URL again.", True
        kind = FLAVORS.get(self.info.flavor, "a server")
        count = len(self.info.models)
        chosen = f"; {self.model}" if self.model else ": choose one"
        return f"✓ {kind} serving {count} model{'s' if count != 1 else ''}{chosen}.", False

    def entry(self) -> RemoteEntry:
        typed = self._typed()
        assert not isinstance(typed, str) and self.model is not None
        name = self.query_one("#server-name", Input).value.strip() or self.model
        return RemoteEntry(name, typed[0], self.model, typed[1])

    # -- asking the server --------------------------------------------------------------
    @on(Input.Changed, "#server-url, #server-key-env")
    def _typing(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(ASK_AFTER, self.ask)
        self.post_message(self.Changed())

    @on(Input.Submitted, "#server-url, #server-key-env")
    def _submitted(self, event: Input.Submitted) -> None:
        if not self.ready:
            event.stop()  # Enter asks now instead of starting
            self.ask()

    @on(Select.Changed, "#server-model")
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed())

    def ask(self) -> None:
        typed = self._typed()
        if isinstance(typed, str) or typed == self._asked:
            return
        self._asked, self.asking, self.problem, self.info = typed, True, "", None
        self.query_one("#server-model", Select).set_options([])
        self.post_message(self.Changed())
        self.run_worker(
            lambda: ask_server(*typed),
            thread=True,
            exclusive=True,
            group="server-models",
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "server-models" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        event.stop()
        self.asking = False
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, ServerInfo):
            self.info = event.worker.result
            select = self.query_one("#server-model", Select)
            select.set_options([(plain(m), m) for m in self.info.models])  # ids: the server's
            if len(self.info.models) == 1:
                select.value = self.info.models[0]
        else:
            error = event.worker.error
            self.problem = (
                error.one_line()
                if isinstance(error, RemoteError)
                else f"{type(error).__name__}: {error}"
            )
            self._asked = None  # typing the same again asks again
        self.post_message(self.Changed())

    def focus_first(self) -> None:
        self.query_one("#server-url", Input).focus()
