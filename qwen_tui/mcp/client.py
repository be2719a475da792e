"""The MCP client's synchronous face: start the configured servers, list their tools as
``ToolSpec``s, call one and get its text back, close. Any thread may call it (the CLI's main
thread, the app's workers); the SDK's asyncio work runs on one event-loop thread the client
owns (``connection.py`` holds each server open there).

A tool is offered to the model as ``SERVER__TOOL`` (``files__read_text_file``), so two servers'
tools of one name do not clash; ``origin`` maps the name back to the server and its tool.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chat.tools import ToolOrigin, ToolResult
from ..engine.types import ToolSpec
from .connection import Connection
from .entries import McpEntry
from .results import DEFAULT_RESULT_LIMIT

DEFAULT_START_TIMEOUT = 60.0  # seconds a server may take to start and list its tools (npx ...)
STOP_TIMEOUT = 10.0  # a stdio server gets EOF, then 2 s, SIGTERM, 2 s, SIGKILL (the SDK's steps)
NAME_LIMIT = 64  # OpenAI's limit on a function's name
_OPEN: weakref.WeakSet[McpClient] = weakref.WeakSet()


@dataclass(frozen=True)
class ServerStatus:
    name: str
    where: str  # the command line or the URL
    state: str  # "ready", "starting", "failed", "stopped", "not started", "disabled"
    detail: str = ""  # why it failed, in one sentence (no full stop)
    tools: tuple[ToolSpec, ...] = ()  # named as the model sees them

    def line(self) -> str:
        """The server as one line: its name, state and why it failed."""
        state = f"failed: {self.detail}" if self.state == "failed" and self.detail else self.state
        if self.state == "ready":
            state += f", {len(self.tools)} tool" + ("s" if len(self.tools) != 1 else "")
        return f"{self.name} ({state})"


class McpClient:
    """The servers of ``entries`` (started by ``start``); close it (or use it in a ``with``)
    so no server process outlives it."""

    def __init__(
        self,
        entries: Sequence[McpEntry],
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        result_limit: int = DEFAULT_RESULT_LIMIT,
        stderr_dir: Path | None = None,
    ) -> None:
        from .. import paths

        self.entries = {e.name: e for e in entries}
        self.start_timeout = start_timeout
        self.result_limit = result_limit
        self.stderr_dir = stderr_dir or paths.log_dir() / "mcp"
        self._connections: dict[str, Connection] = {}
        self._tasks: dict[str, concurrent.futures.Future[None]] = {}
        self._routes: dict[str, ToolOrigin] = {}
        self._specs: dict[str, tuple[ToolSpec, ...]] = {}
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> McpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, names: Iterable[str] | None = None) -> list[ServerStatus]:
        """Start the named servers (default: every enabled one) side by side, and wait until
        each is ready or has failed; a failed or stopped one is started again. Returns their
        statuses. Raises KeyError for a name no entry has."""
        wanted = [self.entries[n] for n in names] if names is not None else None
        if wanted is None:
            wanted = [e for e in self.entries.values() if e.enabled]
        loop = self._running_loop()
        started: list[Connection] = []
        with self._lock:
            for entry in wanted:
                current = self._connections.get(entry.name)
                if current is not None and current.state in ("starting", "ready"):
                    started.append(current)
                    continue
                self._forget(entry.name)  # a restart names its tools afresh
                path = self.stderr_dir / f"{entry.name}.log"
                connection = Connection(entry, path, self.start_timeout)
                self._connections[entry.name] = connection
                self._tasks[entry.name] = asyncio.run_coroutine_threadsafe(connection.run(), loop)
                started.append(connection)
        concurrent.futures.wait([c.started for c in started])
        with self._lock:
            for connection in started:
                if connection.state == "ready" and connection.entry.name not in self._specs:
                    self._register(connection)
        return [self.status(c.entry.name) for c in started]

    def status(self, name: str) -> ServerStatus:
        entry = self.entries[name]
        connection = self._connections.get(name)
        if connection is None:
            state = "not started" if entry.enabled else "disabled"
            return ServerStatus(name, entry.where(), state)
        tools = self._specs.get(name, ()) if connection.state == "ready" else ()
        return ServerStatus(name, entry.where(), connection.state, connection.detail, tools)

    def servers(self) -> list[ServerStatus]:
        """Every configured server, in the config's order."""
        return [self.status(name) for name in self.entries]

    def tool_specs(self, servers: Iterable[str] | None = None) -> list[ToolSpec]:
        """The tools of the ready servers among ``servers`` (default: all), for
        ``engine.chat(tools=...)``."""
        names = list(self.entries) if servers is None else list(servers)
        return [spec for name in names for spec in self.status(name).tools]

    def origin(self, name: str) -> ToolOrigin | None:
        return self._routes.get(name)

    def call(
        self, name: str, arguments: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> ToolResult:
        """Run the tool the model calls ``name`` and wait for its text. A server that is not
        running, fails, times out (its entry's ``timeout``) or reports an error gives a
        result with ok=False and one sentence; ``cancel`` stops the wait."""
        origin = self._routes.get(name)
        connection = self._connections.get(origin.server) if origin else None
        if origin is None or connection is None:
            return ToolResult(f"There is no tool called {name}.", ok=False)
        if cancel is not None and cancel.is_set():
            return ToolResult("Not run: stopped.", ok=False)
        future = asyncio.run_coroutine_threadsafe(
            connection.call(origin.tool, arguments, self.result_limit), self._running_loop()
        )
        while True:
            done, _ = concurrent.futures.wait([future], timeout=0.05 if cancel else None)
            if done:
                return future.result()
            if cancel is not None and cancel.is_set():
                future.cancel()
                return ToolResult(f"Stopped while {origin.tool} ran.", ok=False)

    def close(self) -> None:
        """Stop every server (no process is left behind) and the event-loop thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        _OPEN.discard(self)
        if loop is None or thread is None:
            return
        for connection in self._connections.values():
            loop.call_soon_threadsafe(connection.stop)
        tasks = list(self._tasks.values())
        _, late = concurrent.futures.wait(tasks, timeout=STOP_TIMEOUT)
        for task in late:  # a server task stuck past the SDK's own bounded shutdown
            task.cancel()
        concurrent.futures.wait(late, timeout=STOP_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("the MCP client is closed")
            if self._loop is None:
                _quiet_sdk_logs()
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=_run_loop, args=(self._loop,), name="mcp-client", daemon=True
                )
                self._thread.start()
                _OPEN.add(self)
            return self._loop

    def _forget(self, server: str) -> None:
        self._specs.pop(server, None)
        for name in [n for n, o in self._routes.items() if o.server == server]:
            del self._routes[name]

    def _register(self, connection: Connection) -> None:
        """Name the server's tools for the model (``SERVER__TOOL``, unique, within 64
        characters of letters, digits, _ and -) and remember where each comes from."""
        server = connection.entry.name
        specs: list[ToolSpec] = []
        for tool in connection.tools:
            base = f"{server}__{re.sub(r'[^A-Za-z0-9_-]', '_', tool.name)}"[:NAME_LIMIT]
            name, n = base, 1
            while name in self._routes:
                n += 1
                name = f"{base[: NAME_LIMIT - len(str(n)) - 1]}_{n}"
            self._routes[name] = ToolOrigin(name, server, tool.name)
            specs.append(ToolSpec(name, tool.description or "", dict(tool.input_schema)))
        self._specs[server] = tuple(specs)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def _quiet_sdk_logs() -> None:
    """The SDK's and its HTTP client's warnings go to our log file, not onto the terminal
    (Python's last-resort handler prints them to stderr, over the app)."""
    for name in ("mcp", "httpx2", "httpcore"):
        sdk = logging.getLogger(name)
        if not any(isinstance(h, _ToOurLog) for h in sdk.handlers):
            sdk.propagate = False
            sdk.addHandler(_ToOurLog(logging.WARNING))


class _ToOurLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from ..log import logger

        logger().handle(record)


@atexit.register
def _close_all() -> None:
    """A program that forgot ``close`` still leaves no server process behind."""
    for client in list(_OPEN):
        client.close()
