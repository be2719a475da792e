"""A real MCP server for the tests, written with the official SDK (its ``MCPServer``, which
mcp 1.x called FastMCP): ``python tests/mcp_server.py`` serves it on stdio,
``python tests/mcp_server.py http PORT`` as streamable HTTP on 127.0.0.1:PORT/mcp.

Its tools do what the client must cope with: answer, fail (``isError``), never answer, take
the whole server down mid-call, and say which process they run in. ``add`` does one of the
last three instead of adding when its environment says so (``ADD_MODE``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__)
ADD_MODE = "QWEN_TUI_TEST_ADD"  # "hang", "crash" or "error": what add does instead of adding


def build():  # the SDK is imported here only: the test modules import this file for paths
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("qwen-tui-tests")

    @server.tool()
    async def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        misbehave = os.environ.get(ADD_MODE, "")  # the app's tests: a call that goes wrong
        if misbehave == "hang":
            await anyio.sleep(3600)
        elif misbehave == "crash":
            print("crashing on purpose", file=sys.stderr, flush=True)
            os._exit(7)
        elif misbehave == "error":
            raise ToolError("adding is switched off")
        return a + b

    @server.tool()
    def weather(city: str) -> str:
        """The weather in a city right now."""
        return f"Sunny, 21 °C in {city}."

    @server.tool()
    def refuse(reason: str) -> str:
        """Fail with the reason given."""
        raise ToolError(reason)

    @server.tool()
    async def wait_forever() -> str:
        """Never answer."""
        await anyio.sleep(3600)
        return "too late"

    @server.tool()
    def crash() -> str:
        """Take the whole server down."""
        print("crashing on purpose", file=sys.stderr, flush=True)
        os._exit(7)

    @server.tool()
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @server.tool()
    def long_text(characters: int) -> str:
        """A text of that many characters."""
        return "x" * characters

    return server


def stdio_command() -> tuple[str, list[str]]:
    return sys.executable, [str(HERE)]


def stdio_entry(name: str = "tests", **fields):
    """An [[mcp]] entry that starts this server on stdio."""
    from qwen_tui.mcp.entries import McpEntry

    fields.setdefault("args", (str(HERE),))
    return McpEntry(name, command=sys.executable, **fields)


def descendants() -> set[int]:
    """The ids of this process's living descendants (zombies count: not yet reaped)."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def http_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """The server on a loopback port as a child process; yields its URL once it accepts
    connections, and stops it after."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, str(HERE), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):  # up to a minute on a busy machine; a dead child ends it at once
            if child.poll() is not None:
                raise RuntimeError(f"the test MCP server exited with {child.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", child
    finally:
        child.kill()
        child.wait()


if __name__ == "__main__":
    app = build()
    if sys.argv[1:2] == ["http"]:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
        if sys.argv[1:2] == [
            "stubborn"
        ]:  # does not end when its stdin does: only a signal stops it
            time.sleep(600)
