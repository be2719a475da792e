"""One MCP server, held open by one task on the client's event loop (``client.py`` owns the
loop and is the synchronous face; nothing here is called from another thread).

The task starts the server through the official SDK (``mcp.Client`` over ``stdio_client`` or
``streamable_http_client``), lists its tools, then waits until it is told to stop, so the
SDK's context (its task groups, the child process) is entered and left by the same task. A
stdio server's stderr goes to a file in the log folder, never onto the terminal the app draws.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import Future
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

import anyio
import mcp_types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError

from .. import __version__
from ..chat.tools import ToolResult
from ..log import log_error
from .entries import McpEntry, expand
from .results import describe_failure, result_text

MAX_TOOL_PAGES = 50  # a server whose tools/list pages never end is cut off here


class Connection:
    """A configured server and what became of it: ``state`` is "starting", "ready",
    "failed" (``detail`` says why in one sentence) or "stopped"."""

    def __init__(self, entry: McpEntry, stderr_path: Path | None, start_timeout: float) -> None:
        self.entry = entry
        self.stderr_path = stderr_path
        self.start_timeout = start_timeout
        self.state = "starting"
        self.detail = ""
        self.tools: tuple[mcp_types.Tool, ...] = ()
        self.started: Future[None] = Future()  # done once ready or failed (any thread waits)
        self._client: Client | None = None
        self._stop: anyio.Event | None = None
        self._stopping = False  # stop() came before run() made its event
        self._lock = threading.Lock()

    async def run(self) -> None:
        """Start the server and hold it open until ``stop``; never raises."""
        self._stop = anyio.Event()
        stderr: TextIO | None = None
        try:
            with anyio.CancelScope() as scope:
                scope.deadline = anyio.current_time() + self.start_timeout
                async with AsyncExitStack() as stack:
                    if self.entry.command is not None and self.stderr_path is not None:
                        stderr = stack.enter_context(self._stderr_file())
                    client = await stack.enter_async_context(
                        Client(
                            await self._transport(stack, stderr),
                            client_info=mcp_types.Implementation(
                                name="qwen-tui", version=__version__
                            ),
                        )
                    )
                    self.tools = await _list_tools(client)
                    scope.deadline = math.inf  # started: it may now run for as long as it is used
                    self._client = client
                    self._set("ready")
                    if not self._stopping:
                        await self._stop.wait()
                    self._client = None
            if scope.cancelled_caught and self.state == "starting":
                self._set("failed", f"it did not answer within {self.start_timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - whatever the server did is one sentence
            log_error(exc, f"MCP server {self.entry.name}")
            if self.state != "failed":  # a failed call said why already
                self._set("failed", describe_failure(exc, self.entry, self._stderr_tail()))
        finally:
            self._client = None
            if self.state in ("starting", "ready"):
                self._set("stopped")
            if not self.started.done():
                self.started.set_result(None)

    def stop(self) -> None:
        """Let ``run`` leave the SDK's context (a stdio server is sent EOF, then killed)."""
        self._stopping = True
        if self._stop is not None:
            self._stop.set()

    async def call(self, tool: str, arguments: dict[str, Any], limit: int) -> ToolResult:
        client = self._client
        if client is None or self.state != "ready":
            return ToolResult(self._not_running(), ok=False)
        timeout = self.entry.call_timeout
        try:
            with anyio.fail_after(timeout):
                result = await client.call_tool(tool, arguments)
        except TimeoutError:
            return ToolResult(
                f"{self.entry.name}'s {tool} did not answer within {timeout:g} s.", ok=False
            )
        except MCPError as exc:
            if exc.code != mcp_types.CONNECTION_CLOSED:  # the server refused the request
                return ToolResult(f"{self.entry.name} refused {tool}: {exc.message}", ok=False)
            self._set("failed", "it stopped during a call" + _said(self._stderr_tail()))
            self.stop()
            return ToolResult(self._not_running(), ok=False)
        except ValidationError as exc:  # a result the server got wrong; the server goes on
            log_error(exc, f"MCP server {self.entry.name}, tool {tool}")
            return ToolResult(
                f"{self.entry.name}'s {tool} answered in a shape MCP does not allow.", ok=False
            )
        except Exception as exc:  # noqa: BLE001 - a broken transport: the server is gone
            log_error(exc, f"MCP server {self.entry.name}, tool {tool}")
            self._set("failed", describe_failure(exc, self.entry, self._stderr_tail()))
            self.stop()
            return ToolResult(self._not_running(), ok=False)
        text = result_text(result, limit)
        if result.is_error:
            return ToolResult(text or f"{tool} failed and said nothing.", ok=False)
        return ToolResult(text)

    def _not_running(self) -> str:
        why = f": {self.detail}" if self.detail else ""
        return f"The MCP server {self.entry.name} is not running{why}."

    def _set(self, state: str, detail: str = "") -> None:
        with self._lock:
            if self.state == "failed" and state == "stopped":
                return  # keep why it failed
            self.state, self.detail = state, detail
        if state != "starting" and not self.started.done():
            self.started.set_result(None)

    async def _transport(self, stack: AsyncExitStack, stderr: TextIO | None) -> Any:
        entry = self.entry
        if entry.command is not None:
            params = StdioServerParameters(
                command=entry.command,
                args=list(entry.args),
                env={k: expand(v) for k, v in entry.env.items()},
            )
            if stderr is None:
                return stdio_client(params)
            return stdio_client(params, errlog=stderr)
        import httpx2

        http = await stack.enter_async_context(
            httpx2.AsyncClient(
                headers={k: expand(v) for k, v in entry.headers.items()},
                timeout=httpx2.Timeout(30, read=300),  # the SDK's own defaults
            )
        )
        return streamable_http_client(entry.url or "", http_client=http)

    def _stderr_file(self) -> TextIO:
        from .. import paths

        assert self.stderr_path is not None
        paths.private_dir(self.stderr_path.parent)
        handle = self.stderr_path.open("w", encoding="utf-8", errors="replace")
        paths.private_file(self.stderr_path)
        return handle

    def _stderr_tail(self) -> str:
        """The last line the server wrote on its stderr (what it said before failing)."""
        if self.stderr_path is None:
            return ""
        try:
            lines = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        said = [line.strip() for line in lines if line.strip()]
        return said[-1][:200] if said else ""


def _said(tail: str) -> str:
    return f" (its last words: {tail})" if tail else ""


async def _list_tools(client: Client) -> tuple[mcp_types.Tool, ...]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return tuple(tools)
