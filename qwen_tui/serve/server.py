"""The listening socket and uvicorn around the app.

The socket is bound first (a busy port is one sentence before a model takes seconds to load)
and listens only once the server runs, after the model is loaded: a client never reaches a
server that is not ready.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from ..errors import QwenTuiError, UsageError
from .connections import guarded_protocol
from .limits import Limits
from .scheduler import Scheduler


class PortInUse(QwenTuiError):
    pass


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may reach other machines
        return False


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port), not listening yet."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UsageError(
            f"Cannot listen on '{host}': {exc.strerror}.", "Pass an address like 127.0.0.1."
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"Port {port} on {host} is already in use.",
                "Stop what listens there, or pick another port with --port N.",
            ) from None
        raise UsageError(
            f"Cannot listen on {host}:{port}: {exc.strerror}.", "Check --host and --port."
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ServeServer(uvicorn.Server):
    """uvicorn, quiet, with the app's limits on connections (``connections.py``), that stops
    the replies under way when it is told to stop (Ctrl+C): otherwise it would wait for them
    to finish."""

    def __init__(self, app: Starlette, on_ready: Callable[[], None] = lambda: None) -> None:
        self.on_ready = on_ready  # called once the socket listens
        limits: Limits = app.state.limits
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            http=guarded_protocol(limits),  # h11, with a deadline for headers and a cap
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=limits.keep_alive_seconds,
            h11_max_incomplete_event_size=limits.max_head,
        )
        super().__init__(config)
        self.scheduler: Scheduler = app.state.scheduler

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.scheduler.shutdown()
        super().handle_exit(sig, frame)

    def stop(self) -> None:
        """From any thread: the same as Ctrl+C."""
        self.scheduler.shutdown()
        self.should_exit = True
