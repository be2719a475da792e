"""`qwen-tui serve`'s app run in-process on a free loopback port, for the openai client."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qwen_tui.serve.app import ServedModel, create_app
from qwen_tui.serve.scheduler import Scheduler
from qwen_tui.serve.server import ServeServer, bind, url_of

KEY = "sk-test-key"


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    model: str
    scheduler: Scheduler
    server: ServeServer
    log: list[str] = field(default_factory=list)

    def wait_idle(self, seconds: float = 10) -> None:
        """Until no request is being handled (each one's coroutine has ended)."""
        deadline = time.monotonic() + seconds
        while self.server.server_state.tasks:
            assert time.monotonic() < deadline, "a request's handler never ended"
            time.sleep(0.01)

    def client(self, api_key: str = KEY, **kwargs: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, **kwargs)

    def raw(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, str]:
        """(status, body text) of a plain HTTP request, as curl would make it."""
        status, _, text = self.request(method, path, body, headers)
        return status, text

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, Any, str]:
        """(status, headers, body text) of a plain HTTP request."""
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def connect(self, head: bytes = b"") -> socket.socket:
        """A raw connection to the server that has sent ``head`` (and may send more)."""
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=30)
        if head:
            sock.sendall(head)
        return sock

    def error(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple:
        """(status, the error object) of a request that fails."""
        status, text = self.raw(method, path, body, headers)
        data = json.loads(text)
        assert set(data["error"]) == {"message", "type", "param", "code"}, data
        return status, data["error"]


def response_on(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of the response that comes on a raw connection."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection without a word (read until it does)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def wait_until(condition: Callable[[], Any], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.01)


@contextmanager
def serving(
    engine: Any,
    model_id: str,
    aliases: tuple[str, ...] = (),
    log: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> Iterator:
    """The app on a free port of 127.0.0.1, until the block ends; its log lines go to
    ``Served.log`` unless ``log`` takes them."""
    lines: list[str] = []
    assert engine.info is not None
    model = ServedModel(model_id, aliases, engine.info.context_window)
    app = create_app(engine, model, log=log or lines.append, **kwargs)
    sock = bind("127.0.0.1", 0)
    server = ServeServer(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # uvicorn has no event for it
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield Served(url_of(sock), model_id, app.state.scheduler, server, lines)
    finally:
        server.stop()
        thread.join(30)
        sock.close()


class HeldEngine:
    """The engine, each reply held after its first piece of text until ``release`` is set: a
    reply still being written for as long as the test needs, however fast the engine is."""

    def __init__(self, engine):
        self.engine, self.release = engine, threading.Event()

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def chat(self, messages, params=None, *, on_text=None, **kwargs):
        pieces = []

        def held(piece):
            pieces.append(piece)
            if len(pieces) > 1:
                self.release.wait(60)
            if on_text:
                on_text(piece)

        return self.engine.chat(messages, params, on_text=held, **kwargs)
