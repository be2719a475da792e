"""``RemoteEngine``: the Engine protocol over an OpenAI-compatible server.

Nothing runs here but HTTP: ``load`` asks the server what it serves (``server.probe``),
``chat`` streams ``POST {base_url}/chat/completions`` on the caller's thread, and a stop
closes the connection, which vLLM, llama-server and ollama take as the end of the request.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from ...errors import EngineError
from ...remotes import RemoteEntry
from ..attachments import with_attachments
from ..generate.loop import AnyOf
from ..tools import tool_dicts
from ..types import (
    ChatMessage,
    GenerationParams,
    ModelInfo,
    Reply,
    TextCallback,
    ToolChoice,
    ToolSpec,
)
from . import errors
from .reader import StreamReader
from .request import chat_body, sent_tools
from .server import CONNECT_TIMEOUT, READ_TIMEOUT, ServerInfo, client, probe
from .sse import events

WATCH_EVERY = 0.05  # seconds between looks at the stop events while a reply streams
TOOL_INSTRUCTIONS = 120  # tokens a Qwen template writes around the tools (estimate_tokens)


class RemoteEngine:
    def __init__(self, entry: RemoteEntry, *, read_timeout: float = READ_TIMEOUT) -> None:
        self.entry = entry
        self.read_timeout = read_timeout
        self.info: ModelInfo | None = None
        self.server: ServerInfo | None = None
        self._http: httpx.Client | None = None
        self._cancel = threading.Event()  # the reply being written (a new one per reply)
        self._closed = threading.Event()  # set by unload: nothing runs after
        self._streaming = threading.Lock()  # held while a reply uses the connection pool

    # -- lifecycle -----------------------------------------------------
    def load(self) -> ModelInfo:
        """Ask the server for its models; raises RemoteError (one sentence) when it cannot
        be reached, refuses, is not OpenAI-compatible or does not serve the entry's model."""
        if self.info is not None:
            return self.info
        http = client(self.entry, self.read_timeout)
        try:
            server = probe(self.entry, http)
        except BaseException:
            http.close()
            raise
        self._http, self.server = http, server
        self.info = ModelInfo(
            name=self.entry.name,
            low_bit="remote",
            family=server.flavor,
            path=self.entry.base_url,
            context_window=self.entry.context_window or server.context_window,
            defaults=GenerationParams(),  # what is not sent, the server decides
            thinking=thinking_of(server.model),
        )
        return self.info

    def unload(self) -> None:
        self._closed.set()  # a reply being written stops, its connection closes
        self.cancel()
        self.info = None
        if self._streaming.acquire(blocking=False):  # else the reply closes the pool as it ends
            try:
                self._close_pool()
            finally:
                self._streaming.release()

    def _close_pool(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def cancel(self) -> None:
        """Stop the reply being written (a reply that starts later is not affected)."""
        self._cancel.set()

    def forget(self, cache_key: str) -> None:
        """Nothing is kept here per chat (a server keeps its own prompt cache)."""

    def count_tokens(self, messages: list[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        return estimate_tokens(with_attachments(messages)) + self.tool_tokens(tools)

    def tool_tokens(self, tools: Sequence[ToolSpec]) -> int:
        """An estimate, as ``estimate_tokens``: the tools' JSON at 4 characters a token, and the
        instructions a Qwen template writes around them (about 120 tokens in Qwen2.5's and
        Qwen3's, 250 in Qwen3.5's: the smaller is counted)."""
        if not tools:
            return 0
        return TOOL_INSTRUCTIONS + math.ceil(len(json.dumps(tool_dicts(tools))) / 4)

    # -- chatting ------------------------------------------------------
    def chat(
        self,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
        *,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
        cache_key: str | None = None,
        continue_reply: bool = False,
        on_reasoning: TextCallback | None = None,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> Reply:
        """Stream a reply; ``on_text`` and ``on_reasoning`` are called on this thread. A stop
        (``cancel``, ``cancel()``, ``unload()``) returns what came so far as a stopped reply;
        a failure raises RemoteError (the caller keeps what ``on_text`` was given). ``tools``
        and ``tool_choice`` go to the server as it takes them (``request.py``); the calls it
        streams back come in ``Reply.tool_calls``."""
        with self._streaming:
            try:
                return self._chat(
                    messages,
                    params,
                    on_text,
                    cancel,
                    continue_reply,
                    on_reasoning,
                    tools,
                    tool_choice,
                )
            finally:
                if self._closed.is_set():  # unloaded meanwhile: the pool is this reply's to close
                    self._close_pool()

    def _chat(
        self,
        messages: list[ChatMessage],
        params: GenerationParams | None,
        on_text: TextCallback | None,
        cancel: threading.Event | None,
        continue_reply: bool,
        on_reasoning: TextCallback | None,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> Reply:
        info, server, http = self.info, self.server, self._http
        if info is None or server is None or http is None:
            raise EngineError("No model is loaded.", "Load a model first.")
        if self._closed.is_set():
            raise EngineError("The model was unloaded.", "Load a model again.")
        self._cancel = threading.Event()
        stop = AnyOf(self._cancel, cancel, self._closed)
        params = params or GenerationParams()
        given = sent_tools(tools, tool_choice, server.flavor)
        messages = with_attachments(messages)  # the server's model reads the files as ours do
        window = info.context_window - self.tool_tokens(given) if info.context_window else 0
        messages, dropped = fit_window(messages, window, params.max_new_tokens)
        body = chat_body(
            server.model, messages, params, server.flavor, continue_reply, tools, tool_choice
        )
        reader = StreamReader(
            self.entry, on_text, on_reasoning, split_think=not continue_reply, tools=given
        )
        try:
            with (
                _Watch(stop) as watch,
                http.stream(
                    "POST", "chat/completions", json=body, extensions={"trace": watch.trace}
                ) as response,
            ):
                watch.attach(response)
                if response.status_code >= 400:
                    raise errors.http_error(
                        self.entry, response.status_code, response.read(), "the chat request"
                    )
                for event in events(response.iter_lines()):
                    if reader.feed(event) or stop.is_set():
                        break
        except (httpx.TransportError, httpx.StreamError) as exc:
            if not stop.is_set():
                if isinstance(exc, httpx.TransportError) and not reader.pieces:
                    raise errors.connection_error(
                        self.entry, exc, CONNECT_TIMEOUT, self.read_timeout
                    ) from None
                raise errors.RemoteError(
                    f"The connection to {self.entry.name} ({self.entry.host}) broke "
                    f"mid-reply ({type(exc).__name__}).",
                    "What it wrote so far is kept; ctrl+r tries again.",
                ) from None
        reader.close()
        cancelled = stop.is_set() and not reader.complete
        if not cancelled and not reader.complete:
            raise errors.RemoteError(
                f"{self.entry.name} ended the stream before the reply was finished.",
                "What it wrote so far is kept; ctrl+r tries again.",
            )
        stats = reader.stats(estimate_tokens(messages), info.context_window, cancelled)
        stats.dropped_turns = dropped
        answer, reasoning = "".join(reader.answer), "".join(reader.reasoning)
        return Reply(answer, stats, (), reasoning, tool_calls=tuple(reader.tool_calls))


def fit_window(
    messages: list[ChatMessage], window: int, max_new: int | None
) -> tuple[list[ChatMessage], int]:
    """The conversation with its oldest turns left out until the estimate (plus a tenth, as it
    is an estimate) fits the server's window less the reply's room (``max_new``, else a quarter
    of the window), and how many turns were left out. The system prompt and the newest turn
    always go: if they alone are too long, the server's refusal says so."""
    from ..generate.prompt import split_turns

    if window <= 0:
        return messages, 0
    budget = window - (max_new if max_new else window // 4)
    system, turns = split_turns(messages)
    dropped = 0
    while dropped < len(turns) - 1:
        kept = system + [m for turn in turns[dropped:] for m in turn]
        if estimate_tokens(kept) * 1.1 <= budget:
            break
        dropped += 1
    return system + [m for turn in turns[dropped:] for m in turn], dropped


def estimate_tokens(messages: list[ChatMessage]) -> int:
    """About how many tokens ``messages`` take. An honest estimate, not a count: the server's
    tokenizer is not at hand (the OpenAI API has no endpoint for it, vLLM's and
    llama-server's ``/tokenize`` differ, and the UI asks on every change of a chat). Qwen's
    tokenizer writes English at about 4 characters a token and Chinese at 1 to 1.5, so: a
    token per 4 ASCII characters, 2 per 3 other characters, and 4 per message for the chat
    template's markers. The server's own count comes with every reply (its usage)."""
    total = 0.0
    for m in messages:
        text = m.content + "".join(f"{c.name} {c.arguments}" for c in m.tool_calls)
        ascii_chars = sum(1 for c in text if c < "\x80")
        total += 4 + ascii_chars / 4 + (len(text) - ascii_chars) / 1.5
    return math.ceil(total) if messages else 0


def thinking_of(model: str) -> str:
    """Whether a model thinks, guessed from its id ("none" | "switch" | "always"): Qwen3
    switches (its Thinking-2507 always thinks, its Instruct-2507 never does); QwQ and
    DeepSeek-R1 always think. Thinking a server streams apart is shown whatever this says."""
    name = model.lower()
    if re.search(r"thinking|qwq|deepseek-r1|\br1\b", name):
        return "always"
    if "qwen3" in name and "instruct-2507" not in name:
        return "switch"
    return "none"


class _Watch:
    """While a reply streams, watch the stop events on a thread of its own; on a stop, shut
    the connection's socket down, which ends a read blocked on it (a long prompt, a stalled
    server) at once and tells the server the client has gone. The socket is taken from
    httpcore's trace as the connection opens, so a stop before any answer works too."""

    def __init__(self, stop: AnyOf) -> None:
        self.stop = stop
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._aborted = False
        self._done = threading.Event()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith("connect_tcp.complete"):
            self._take(info.get("return_value"))

    def attach(self, response: httpx.Response) -> None:
        self._take(response.extensions.get("network_stream"))

    def _take(self, stream: Any) -> None:
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock
                if self._aborted:
                    _shut(sock)

    def __enter__(self) -> _Watch:
        threading.Thread(target=self._run, name="remote-stop", daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(WATCH_EVERY):
            if self.stop.is_set():
                with self._lock:
                    self._aborted = True
                    if self._socket is not None:
                        _shut(self._socket)
                return


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
