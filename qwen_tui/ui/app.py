"""The Textual app, built from injected core objects (no module globals)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.css.query import NoMatches
from textual.markup import escape
from textual.notifications import SeverityLevel
from textual.screen import Screen

from .. import config, instance, paths, remotes
from ..chat import ChatService
from ..chat.chat_tools import ChatTools
from ..chat.engine_slot import EngineSlot
from ..engine.local import LocalEngine
from ..engine.open import open_engine
from ..engine.remote import RemoteEngine
from ..errors import QwenTuiError, one_line
from ..history import ConversationStore, HistoryError
from ..instance import InstanceLock
from ..log import log_error
from ..remotes import RemoteEntry
from ..store import local
from ..store.local import LocalModel
from .bindings import APP_KEYS
from .controller import REMOTE, ChatController, ChatEngine, label_of
from .messages import (
    ChunksWaiting,
    EngineFailed,
    EngineLoaded,
    QueueChanged,
    ReplyFinished,
    ReplyStarted,
    ToolEvent,
)
from .plain import visible
from .reply_queue import GAP, AppReplyQueue
from .screens.chat import ChatScreen

QUIT_WAIT = 10.0  # seconds quitting waits for the reply being written to stop and save

EngineFactory = Callable[[LocalModel, config.Settings], LocalEngine]
RemoteFactory = Callable[[RemoteEntry, config.Settings], RemoteEngine]


def local_engine(model: LocalModel, settings: config.Settings) -> LocalEngine:
    """The engine ``open_engine`` picks for a model of the store (ours, without torch, unless
    the model or the settings need bigdl-llm's)."""
    return open_engine(model.path, threads=settings.threads, kv_cache_mb=settings.kv_cache_mb)


def remote_engine(entry: RemoteEntry, settings: config.Settings) -> RemoteEngine:
    return RemoteEngine(entry)


class QwenApp(App[None]):
    TITLE = "qwen-tui"
    CSS_PATH = "app.tcss"

    def __init__(
        self,
        *,
        settings: config.Settings,
        store: ConversationStore,
        engine_factory: EngineFactory = local_engine,
        remote_factory: RemoteFactory = remote_engine,
        warnings: list[str] | None = None,
        save_settings: Callable[[config.Settings], None] = config.save,
        open_wizard: bool = True,
        read_only: str | None = None,
        notices: list[str] | None = None,
    ) -> None:
        super().__init__()
        # why this window only reads the history (another window owns it), or None
        self.read_only = read_only
        self.notices = notices or []
        self.settings = settings
        self.store = store
        self.engine_factory = engine_factory
        self.remote_factory = remote_factory
        self.startup_warnings = warnings or []
        self.save_settings = save_settings
        self.open_wizard = open_wizard
        self.service = ChatService(store, lambda: self.settings)
        self.tools = ChatTools(settings.mcp)  # started when a chat needs them
        self.queue = AppReplyQueue(self)
        self.slot: EngineSlot[ChatEngine] = EngineSlot()  # the newest load's engine wins
        self.engine_state = "no model"
        self.model: LocalModel | RemoteEntry | None = None  # loaded or loading
        self.controller = ChatController(self)  # what the chat screen uses of the app

    # -- start-up ----------------------------------------------------------
    def on_mount(self) -> None:
        self.theme = "textual-dark"
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self.startup_warnings.append(
                f"theme {self.settings.theme!r} is not one of the themes here; textual-dark is "
                "used (ctrl+s lists them)."
            )
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self.push_screen(ChatScreen(self.controller))
        for warning in self.startup_warnings:
            self.notify(warning, title="config.toml", severity="warning", timeout=10)
        for notice in self.notices:
            self.notify(notice, title="Conversation history", severity="error", timeout=30)
        if self.read_only:
            self.notify(
                f"Read-only: {self.read_only}. This window can read, search and export chats; "
                "write in the other one.",
                title="Another window",
                severity="warning",
                timeout=30,
            )
            self._status(model="read-only", state="no model")
            return  # no model: one window loads it, the other would double the memory
        model: LocalModel | RemoteEntry | None = remotes.find(
            self.settings.remote, self.settings.model
        )
        try:
            model = model or local.choose(None, self.settings.model, self.settings.low_bit)
        except (QwenTuiError, OSError):  # no local model: the first [[remote]] entry, if any
            model = self.settings.remote[0] if self.settings.remote else None
        if model is not None:
            self.load_model(model)
        elif self.open_wizard:
            self.action_setup_model()

    def _chat_screen(self) -> ChatScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, ChatScreen)), None)

    @property
    def chat(self) -> ChatScreen:
        screen = self._chat_screen()
        if screen is None:
            raise LookupError("chat screen not mounted")
        return screen

    def local_models(self) -> list[LocalModel]:
        return local.list_local()

    # -- the engine ----------------------------------------------------------
    @property
    def engine(self) -> ChatEngine | None:
        """The loaded engine (None: no model, or the newest one still loading)."""
        return self.slot.engine

    def load_model(self, model: LocalModel | RemoteEntry) -> None:
        """Load a local model, or connect to a [[remote]] entry's server, in the background;
        a load asked for later wins over this one, however their threads end."""
        self.model = model
        self.engine_state = "loading"
        self._status(model=label_of(model), state="loading")
        ticket = self.slot.request()
        self.run_worker(lambda: self._load(model, ticket), thread=True, group="load", name="load")

    def _load(self, model: LocalModel | RemoteEntry, ticket: int) -> None:
        def make() -> ChatEngine:
            if isinstance(model, RemoteEntry):  # no torch: the server writes the replies
                return self.remote_factory(model, self.settings)
            return self.engine_factory(model, self.settings)

        try:  # local models load one at a time; a server holds no model, it need not wait
            info = self.slot.load(ticket, make, exclusive=isinstance(model, LocalModel))
        except Exception as exc:
            if self.slot.is_newest(ticket):  # an older load's failure is no news
                self.post_message(EngineFailed(one_line(exc), ticket))
            return
        if info is not None:
            self.post_message(EngineLoaded(info, ticket))

    def switch_model(self, choice: str) -> None:
        """Load a local model (its folder name) or a [[remote]] entry ("remote:<name>", or
        its bare name: a remote's name wins over a local folder's)."""
        model: LocalModel | RemoteEntry | None = remotes.find(
            self.settings.remote, choice.removeprefix(REMOTE)
        )
        try:
            if model is None:
                model = local.resolve(choice)
        except Exception as exc:
            self.notify(str(exc), severity="error")
            return
        self.queue.stop_current()
        name = model.name if isinstance(model, RemoteEntry) else model.folder_name
        self.settings = config.updated(self.settings, model=name)
        self._save()
        self.load_model(model)

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        if not self.slot.is_newest(message.ticket):
            return  # another model was picked since: it is loading
        self.engine_state = "ready"
        self._status(state="ready", context_window=message.info.context_window)
        if message.info.note:  # what opening it did (a save_low_bit folder converted, once)
            self.notify(message.info.note, title="Model converted", timeout=20)
        self.chat.update_context()
        self.queue.kick()

    def on_engine_failed(self, message: EngineFailed) -> None:
        if not self.slot.is_newest(message.ticket):
            return
        self.engine_state = "error"
        self._status(state="error")
        title = "Could not use the server" if isinstance(self.model, RemoteEntry) else ""
        self.notify(
            message.error, title=title or "Could not load the model", severity="error", timeout=15
        )

    def _status(self, **values: object) -> None:
        try:
            status = self.chat.status
        except (LookupError, NoMatches):
            return  # not composed yet: ChatScreen.on_mount reads the state itself
        for name, value in values.items():
            setattr(status, name, value)

    # -- replies (posted by the worker thread) ------------------------------
    async def on_reply_started(self, message: ReplyStarted) -> None:
        self.queue.follow(message.event)
        await self.chat.reply_started(message.conversation_id)

    async def on_chunks_waiting(self, message: ChunksWaiting) -> None:
        self.set_timer(GAP, self.queue.release_held)  # pieces held meanwhile are not stranded
        for chunk in self.queue.take_chunks():
            self.queue.follow(chunk)
            await self.chat.reply_chunk(chunk.conversation_id, chunk.text, chunk.reasoning)

    async def on_reply_finished(self, message: ReplyFinished) -> None:
        self.queue.follow(message.event)
        await self.chat.reply_finished(
            message.conversation_id,
            message.text,
            message.stats,
            message.error,
            message.reasoning,
            message.thinking_seconds,
            message.tool_limit,
            message.between_rounds,
        )
        if message.continued and self.chat.conversation_id == message.conversation_id:
            await self.chat.open(message.conversation_id)  # the reply and its continuation

    async def on_tool_event(self, message: ToolEvent) -> None:
        self.queue.follow(message.event)
        await self.chat.tool_event(message.event)

    def on_queue_changed(self, message: QueueChanged) -> None:
        try:
            self.chat.refresh_sidebar()
        except (LookupError, NoMatches):
            pass

    # -- app-wide actions ----------------------------------------------------
    async def action_quit(self) -> None:
        """Quit (ctrl+q, Textual's own binding and ours); while a reply is being written,
        ask first (what it wrote is kept)."""
        if self.queue.current is None and not self.queue.pending:
            self.exit()
            return
        from .screens.dialogs import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                self.queue.stop_current()
                self.exit()

        if self.queue.current is not None:
            question = "A reply is being written. Quit anyway? What it wrote so far is kept."
        else:  # queued while the model loads: nothing is being written yet
            question = (
                "A message is waiting for its reply (the model is not ready). Quit anyway? "
                "The message is kept; ctrl+r answers it later."
            )
        self.push_screen(ConfirmScreen(question, yes="Quit"), done)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(dict(self._keymap or {})))

    def action_settings(self) -> None:
        from .screens.settings import SettingsScreen

        names = [m.folder_name for m in self.local_models()]
        names += [e.name for e in self.settings.remote]

        def done(new: config.Settings | None) -> None:
            if new is None:
                return
            old, self.settings = self.settings, new
            self._save()
            if new.keys != old.keys:
                self.set_keymap(new.keys)
            if new.model and new.model != old.model:
                self.switch_model(new.model)
            elif (new.threads, new.kv_cache_mb) != (old.threads, old.kv_cache_mb) and isinstance(
                self.model, LocalModel
            ):
                self.load_model(self.model)
            self.notify("Settings saved.")

        self.push_screen(SettingsScreen(self.settings, names, sorted(self.available_themes)), done)

    def action_setup_model(self) -> None:
        from .screens.wizard import WizardScreen

        def done(model: LocalModel | RemoteEntry | None) -> None:
            if isinstance(model, RemoteEntry):
                self.add_remote(model)
            elif model is not None:
                from ..eval.gate import describe

                quality = describe(model.manifest.quality)
                self.notify(
                    f"{model.folder_name} is ready" + (f"; {quality}." if quality else "."),
                    timeout=10,
                    markup=False,
                )
                self.settings = config.updated(self.settings, model=model.folder_name)
                self._save()
                self.load_model(model)
                self.call_later(self.chat.action_new_chat)

        first = not self.local_models()
        s = self.settings
        wizard = WizardScreen(s.hf_endpoint, s.low_bit, first, s.hf_token_mirrors)
        self.push_screen(wizard, done)

    def add_remote(self, entry: RemoteEntry) -> None:
        """Save a [[remote]] entry (the wizard's "Connect to a server"), connect, open a chat."""
        self.settings = config.updated(
            self.settings, remote=remotes.with_entry(self.settings.remote, entry), model=entry.name
        )
        self._save()
        self.notify(
            f"{entry.name} ({entry.model} at {entry.host}) is saved in config.toml.", timeout=10
        )
        self.load_model(entry)
        self.call_later(self.chat.action_new_chat)

    def _handle_exception(self, error: Exception) -> None:
        """An error no handler caught (typed errors are caught where they happen, see
        ``guard.py``) is a bug: its traceback goes to the log file and the app ends with one
        sentence saying where, instead of a traceback over the terminal."""
        where = log_error(error, "the app")
        self._return_code = 1
        self.exit(
            return_code=1,
            message=f"qwen-tui: unexpected error ({type(error).__name__}: {error}). "
            f"The details are in {where}; please report them.",
        )

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is plain text: it often carries a path, a title or an error a
        user or a file supplied, which Textual would otherwise parse as markup."""
        super().notify(
            visible(message), title=visible(title), severity=severity, timeout=timeout, markup=False
        )

    def _save(self) -> None:
        try:
            self.save_settings(self.settings)
        except OSError as exc:
            self.notify(f"Could not save settings: {exc}", severity="error")

    def watch_theme(self, theme: str) -> None:
        """Keep a theme chosen from the palette; the settings screen only previews."""
        from .screens.settings import SettingsScreen

        if isinstance(self.screen, SettingsScreen) or not self.is_running:
            return
        if theme != self.settings.theme and theme in self.available_themes:
            self.settings = config.updated(self.settings, theme=theme)
            self._save()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        chat = self._chat_screen()
        for binding_id, keys, action, description, _ in APP_KEYS:
            if action in ("app.quit", "app.help"):
                continue
            on_app = action.startswith("app.")
            action = action.removeprefix("app.")
            target = self if on_app or chat is None else chat
            key = (self._keymap or {}).get(binding_id, keys).split(",")[0]
            shown = f"{description} ({escape(visible(key))})"  # the palette reads markup
            yield SystemCommand(description, shown, lambda t=target, a=action: t.run_action(a))
        yield SystemCommand("Keys and help", "Every binding (f1)", self.action_help)

    async def on_unmount(self) -> None:
        """Stop the reply being written and let it save its last piece, then close the store
        and stop the MCP servers.
        A reply that does not stop within QUIT_WAIT seconds (a long prompt still being read)
        keeps the store open: Python waits for its thread at exit, and it saves then."""
        if await asyncio.to_thread(self.queue.shut_down, QUIT_WAIT):
            self.store.close()
        await asyncio.to_thread(self.tools.close)  # no MCP server outlives the app


def open_history() -> tuple[ConversationStore, str | None, list[str], InstanceLock | None]:
    """(store, why read-only or None, notices, lock): the history this window uses."""
    lock = instance.acquire()
    read_only = None
    if lock is None:
        pid = instance.holder()
        read_only = f"another qwen-tui window (pid {pid}) has this history open"
    try:
        return (
            ConversationStore(paths.history_db(), read_only=read_only is not None),
            (read_only),
            [],
            lock,
        )
    except HistoryError as exc:  # a bad file must not stop the app: a history for now
        notice = f"{exc.message} {exc.hint} Until then this window keeps its chats in memory only."
        return ConversationStore(Path(":memory:")), read_only, [notice], lock


GIL_SWITCH_S = 0.0005  # see run_app


def run_app() -> int:
    # The reply is decoded by a Python thread between C calls: each time it needs the GIL
    # while the UI renders, Python makes it wait a switch interval (5 ms by default, against
    # a token's 10 ms): a shorter one lets it back in at once.
    sys.setswitchinterval(GIL_SWITCH_S)
    settings, warnings = config.load()
    store, read_only, notices, lock = open_history()
    try:
        QwenApp(
            settings=settings, store=store, warnings=warnings, read_only=read_only, notices=notices
        ).run()
    finally:
        if lock is not None:
            lock.release()
    return 0
