"""What the chat screen may use of the app, in one object: the core's history, chat service
and reply queue, the model's state, and the few app actions a screen starts.

The app builds it and hands it to ``ChatScreen``; no screen or widget imports the app
(an import-linter contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

from typing import Protocol

from ..chat import ChatService, ReplyQueue, cache_key, settings_params
from ..chat.chat_tools import ChatTools
from ..config import Settings
from ..engine.types import Engine, GenerationParams
from ..history import ConversationStore
from ..remotes import RemoteEntry
from ..store.local import LocalModel

REMOTE = "remote:"  # the id of a [[remote]] entry in the model picker: "remote:<name>"


def label_of(model: LocalModel | RemoteEntry) -> str:
    """How the status bar names a model: "name · format", or "name · remote host"."""
    if isinstance(model, RemoteEntry):
        return f"{model.name} · remote {model.host}"
    return f"{model.name} · {model.low_bit}"


class ChatEngine(Engine, Protocol):
    """The engine as the chat screen uses it: the core's, plus its kept cache per chat."""

    def forget(self, cache_key: str) -> None: ...


class ControllerHost(Protocol):
    """What the controller reads of the app (``QwenApp`` has it all)."""

    @property
    def store(self) -> ConversationStore: ...

    @property
    def service(self) -> ChatService: ...

    @property
    def queue(self) -> ReplyQueue: ...

    @property
    def tools(self) -> ChatTools: ...

    @property
    def engine(self) -> ChatEngine | None: ...

    @property
    def engine_state(self) -> str: ...

    @property
    def model(self) -> LocalModel | RemoteEntry | None: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def read_only(self) -> str | None: ...

    def local_models(self) -> list[LocalModel]: ...

    def switch_model(self, folder_name: str) -> None: ...

    def action_setup_model(self) -> None: ...


class ChatController:
    def __init__(self, host: ControllerHost) -> None:
        self._host = host

    # -- the core ------------------------------------------------------------
    @property
    def store(self) -> ConversationStore:
        return self._host.store

    @property
    def service(self) -> ChatService:
        return self._host.service

    @property
    def queue(self) -> ReplyQueue:
        return self._host.queue

    @property
    def tools(self) -> ChatTools:
        """The [[mcp]] servers chats may call, and what each chat allowed."""
        return self._host.tools

    @property
    def settings(self) -> Settings:
        return self._host.settings

    @property
    def read_only(self) -> str | None:
        """Why this window only reads the history (another window owns it), or None."""
        return self._host.read_only

    # -- the model -----------------------------------------------------------
    @property
    def engine(self) -> ChatEngine | None:
        """The loaded engine, or None (no model, or one loading)."""
        return self._host.engine

    @property
    def engine_state(self) -> str:
        """One of "no model", "loading", "ready" and "error"."""
        return self._host.engine_state

    @property
    def model(self) -> LocalModel | RemoteEntry | None:
        """The model loaded or loading, if any: local, or a [[remote]] entry."""
        return self._host.model

    @property
    def model_label(self) -> str | None:
        model = self._host.model
        return label_of(model) if model is not None else None

    def model_choices(self) -> list[tuple[str, str]]:
        """(id, label) of every model to switch to: the local ones, then the [[remote]]
        entries (id "remote:<name>", labelled with the model id and the server's host)."""
        items = [
            (m.folder_name, f"{m.folder_name}  ({m.manifest.family}, {m.manifest.source})")
            for m in self._host.local_models()
        ]
        items += [
            (REMOTE + e.name, f"{e.name}  (remote: {e.model} at {e.host})")
            for e in self._host.settings.remote
        ]
        return items

    @property
    def current_choice(self) -> str | None:
        """The id in ``model_choices`` of the model loaded or loading."""
        model = self._host.model
        if isinstance(model, RemoteEntry):
            return REMOTE + model.name
        return model.folder_name if model is not None else None

    @property
    def thinking(self) -> str:
        """How the loaded model thinks (``ModelInfo.thinking``); "none" while none is loaded."""
        engine = self._host.engine
        return engine.info.thinking if engine is not None and engine.info is not None else "none"

    def default_params(self) -> GenerationParams:
        """What a chat's reply uses where the chat sets nothing: the settings, then the
        loaded model's own defaults."""
        defaults = settings_params(self._host.settings)
        engine = self._host.engine
        if engine is not None and engine.info is not None:
            defaults = defaults.over(engine.info.defaults)
        return defaults

    def forget(self, conversation_id: int) -> None:
        """Drop what the loaded engine keeps of a chat (it is being deleted), and the tools
        it allowed."""
        self._host.tools.forget(conversation_id)
        engine = self._host.engine
        if engine is not None:
            engine.forget(cache_key(conversation_id))

    # -- app actions -----------------------------------------------------------
    def local_models(self) -> list[LocalModel]:
        return self._host.local_models()

    def switch_model(self, choice: str) -> None:
        """Stop the reply being written, remember the choice (an id of ``model_choices``)
        and load it in the background."""
        self._host.switch_model(choice)

    def setup_model(self) -> None:
        """Open the wizard that downloads or imports a model."""
        self._host.action_setup_model()
