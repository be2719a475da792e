"""The tools of the app's chats: which MCP servers a conversation may call, the one MCP client
all chats share, and the tools each chat allowed "always".

A chat's servers are stored with it, in its ``params`` JSON under ``"tools"`` (a list of
``[[mcp]]`` names), so they survive a restart and go with an export. The client is made, and
a server started, only when a chat needs it (its tools switched on, or a reply); ``close``
stops them all. What a chat allowed "always" lasts until the app quits: a reopened or
imported chat asks again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..engine.types import ToolSpec
from ..history import ConversationStore
from .tools import ToolOrigin, ToolResult

if TYPE_CHECKING:
    from ..mcp.client import McpClient, ServerStatus
    from ..mcp.entries import McpEntry

TOOLS_KEY = "tools"  # a chat's params: the names of the MCP servers it may call


def chosen_servers(params: dict[str, Any]) -> tuple[str, ...]:
    """The server names a chat's params hold (anything else there, as an import may bring, is
    no server)."""
    value = params.get(TOOLS_KEY)
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(name for name in value if isinstance(name, str) and name))


def set_chosen_servers(
    store: ConversationStore, conversation_id: int, names: Iterable[str]
) -> None:
    """Store the servers a chat may call (none: the key goes), keeping its other params."""
    params = dict(store.get(conversation_id).params)
    params.pop(TOOLS_KEY, None)
    chosen = list(dict.fromkeys(names))
    if chosen:
        params[TOOLS_KEY] = chosen
    store.set_params(conversation_id, params)


def default_client(entries: Sequence[McpEntry]) -> McpClient:
    from ..mcp.client import McpClient

    return McpClient(entries)


class ChatTools:
    """The ``[[mcp]]`` servers of the settings for every chat of the app. Thread-safe: the UI
    thread reads statuses, workers start servers and run calls."""

    def __init__(
        self,
        entries: Sequence[McpEntry],
        make_client: Callable[[Sequence[McpEntry]], McpClient] = default_client,
    ) -> None:
        self.entries = {e.name: e for e in entries}
        self._make_client = make_client
        self._client: McpClient | None = None
        self._lock = threading.Lock()
        self._always: dict[int, set[str]] = {}
        self._closed = False

    def usable(self, names: Iterable[str]) -> list[str]:
        """The names among ``names`` of servers configured and not switched off."""
        return [n for n in names if n in self.entries and self.entries[n].enabled]

    def servers_of(self, store: ConversationStore, conversation_id: int) -> list[str]:
        """The usable servers a chat has switched on."""
        return self.usable(chosen_servers(store.get(conversation_id).params))

    @property
    def client(self) -> McpClient:
        """The shared client, made on first use; RuntimeError once closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the app's MCP servers are closed")
            if self._client is None:
                self._client = self._make_client(list(self.entries.values()))
            return self._client

    def start(
        self, names: Iterable[str], cancel: threading.Event | None = None
    ) -> list[ServerStatus] | None:
        """Start those of ``names`` that are usable and not running (a failed or stopped one
        is started again) and wait for them; None if ``cancel`` is set first (they go on
        starting)."""
        wanted = self.usable(names)
        if not wanted:
            return []
        client = self.client
        done = threading.Event()
        statuses: list[ServerStatus] = []

        def start() -> None:
            try:
                statuses.extend(client.start(wanted))
            finally:
                done.set()

        threading.Thread(target=start, name="mcp-start", daemon=True).start()
        while not done.wait(0.05):
            if cancel is not None and cancel.is_set():
                return None
        return statuses

    def status(self, name: str) -> ServerStatus | None:
        """A server's status; None while nothing was started."""
        with self._lock:
            client = self._client
        return client.status(name) if client is not None and not self._closed else None

    def specs(self, names: Iterable[str]) -> list[ToolSpec]:
        """The tools of the ready servers among ``names`` (none before they are started)."""
        statuses = [self.status(n) for n in self.usable(names)]
        return [spec for s in statuses if s is not None and s.state == "ready" for spec in s.tools]

    def runner(self, names: Iterable[str]) -> ChatRunner:
        """What runs a chat's calls: only the tools of its own servers."""
        return ChatRunner(self.client, set(self.usable(names)))

    def always(self, conversation_id: int) -> set[str]:
        """The tools (as the model names them) a chat allowed for good; the loop adds to it."""
        with self._lock:
            return self._always.setdefault(conversation_id, set())

    def forget(self, conversation_id: int) -> None:
        with self._lock:
            self._always.pop(conversation_id, None)

    def close(self) -> None:
        """Stop every server started (the app is quitting)."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()


class ChatRunner:
    """The client as one chat's tool loop sees it: a call to a tool of a server the chat has
    not switched on is no tool at all (the model may write any name)."""

    def __init__(self, client: McpClient, servers: set[str]) -> None:
        self.client = client
        self.servers = servers

    def origin(self, name: str) -> ToolOrigin | None:
        origin = self.client.origin(name)
        return origin if origin is not None and origin.server in self.servers else None

    def call(
        self, name: str, arguments: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> ToolResult:
        if self.origin(name) is None:
            return ToolResult(f"There is no tool called {name}.", ok=False)
        return self.client.call(name, arguments, cancel=cancel)
