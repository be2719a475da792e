"""A loopback stand-in for three OpenAI-compatible servers: llama-server, ollama and vLLM.

It answers from the recordings in ``tests/fixtures/openai_streams/<server>/`` (their shapes
read from each server's sources, see the README there), over real HTTP/1.1 with chunked
server-sent events, as those servers do:

- ``GET /v1/models`` (``models.json``); ollama's ``GET /api/version``, llama-server's
  ``GET /props`` where recorded;
- ``POST /v1/chat/completions``: the body and headers are logged (``requests``), then the
  recording ``script`` is streamed an event at a time (``pace`` seconds apart).

Knobs: ``key`` (answer 401 with ``unauthorized.json`` unless ``Authorization: Bearer <key>``),
``chat_status`` (answer the chat request with that status and ``chat_error``), ``hold_after``
(after that many events, send nothing more and wait for the client to go: a long generation),
``cut_after`` (after that many events, drop the connection mid-body), ``model_ids`` (list
these ids instead of the recorded ones), ``gate`` (answer no GET until this event is set: a
slow server), and the event ``disconnected``, set when a client closes a stream before its end.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RECORDINGS = Path(__file__).parent / "fixtures" / "openai_streams"


@dataclass
class FakeServer:
    flavor: str  # "llama_server" | "ollama" | "vllm"
    script: str = "chat_qwen3.sse"
    pace: float = 0.0
    key: str | None = None
    chat_status: int | None = None
    chat_error: dict | None = None
    hold_after: int | None = None
    cut_after: int | None = None
    model_ids: list[str] | None = None
    gate: threading.Event | None = None
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    httpd: ThreadingHTTPServer | None = None

    def close(self) -> None:
        """Stop answering: the address refuses connections from now on."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def recording(self, name: str) -> Path:
        return RECORDINGS / self.flavor / name

    def events(self) -> list[bytes]:
        text = self.recording(self.script).read_text(encoding="utf-8")
        return [part.encode() + b"\n\n" for part in text.split("\n\n") if part]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up (every stop does) is not news


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if fake.key is None or self.headers.get("Authorization") == f"Bearer {fake.key}":
                return True
            self._json(401, json.loads(fake.recording("unauthorized.json").read_text()))
            return False

        def do_GET(self) -> None:
            if self.path == "/html/models":  # a web page where an API was expected
                page = b"<html><body>It works!</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            files = {"/v1/models": "models.json", "/api/version": "version.json"}
            files["/props"] = "props.json"
            name = files.get(self.path)
            if name and not fake.recording(name).is_file():
                name = None
            if name is None:
                self._json(404, {"error": {"code": 404, "message": "File Not Found"}})
            elif self._authorized():
                if fake.gate is not None:
                    fake.gate.wait(30)
                body = json.loads(fake.recording(name).read_text())
                if name == "models.json" and fake.model_ids is not None:
                    first = body["data"][0]
                    body["data"] = [{**first, "id": m} for m in fake.model_ids]
                self._json(200, body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/chat/completions":
                self._json(404, {"error": {"code": 404, "message": "File Not Found"}})
                return
            fake.headers.append(dict(self.headers))
            fake.requests.append(json.loads(body))
            if not self._authorized():
                return
            if fake.chat_status is not None:
                self._json(fake.chat_status, fake.chat_error or {})
                return
            script = fake.events()  # read before answering: a missing recording fails loudly
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for index, event in enumerate(script):
                    if fake.hold_after is not None and index >= fake.hold_after:
                        self._wait_for_hangup()
                        return
                    if fake.cut_after is not None and index >= fake.cut_after:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._chunk(event)
                    time.sleep(fake.pace)
                self._chunk(b"")
            except OSError:
                fake.disconnected.set()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _wait_for_hangup(self, limit: float = 30.0) -> None:
            sock = self.connection
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0.02)
                if readable:
                    try:
                        gone = sock.recv(1, socket.MSG_PEEK) == b""
                    except OSError:
                        gone = True
                    if gone:
                        fake.disconnected.set()
                        return

    return Handler


@pytest.fixture
def fake_openai():
    """``start(flavor, **knobs)`` runs a fake server on loopback and returns it."""
    servers: list[FakeServer] = []

    def start(flavor: str, **knobs) -> FakeServer:
        fake = FakeServer(flavor, **knobs)
        httpd = _Server(("127.0.0.1", 0), _handler(fake))
        fake.port, fake.httpd = httpd.server_address[1], httpd
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(fake)
        return fake

    yield start
    for fake in servers:
        fake.close()


def free_port() -> int:
    """A loopback port nothing listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- what the remote tests ask each recorded server for -------------------------------------

MODELS = {"llama_server": "qwen3-8b", "ollama": "qwen3:8b", "vllm": "Qwen/Qwen3-8B"}


def engine_for(fake: FakeServer, model: str | None = None, **entry: object):
    """A RemoteEngine on ``fake``, asking for the model its recording serves."""
    from qwen_tui.engine.remote import RemoteEngine
    from qwen_tui.remotes import RemoteEntry

    return RemoteEngine(
        RemoteEntry("box", fake.base_url, model or MODELS[fake.flavor], **entry), read_timeout=10
    )
