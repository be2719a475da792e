"""What a server is and serves: ``GET {base_url}/models``, and which server answered.

Each server writes its own name into ``owned_by`` of the models it lists: vLLM ``"vllm"``
(``vllm/entrypoints/openai/engine/protocol.py``, ``ModelCard``, which also carries
``max_model_len``), llama-server ``"llamacpp"`` (``tools/server``, with ``meta.n_ctx`` in
newer builds; ``GET /props`` has ``default_generation_settings.n_ctx``, the window of a slot).
ollama writes the model's namespace there (``"library"``), so it is known by ``GET
/api/version`` beside its ``/v1``. ``qwen-tui serve`` writes ``"qwen-tui"`` (and vLLM's
``max_model_len``). Anything else is a plain OpenAI-compatible server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ...remotes import RemoteEntry
from . import errors

VLLM, LLAMA_CPP, OLLAMA, OPENAI = "vllm", "llama.cpp", "ollama", "openai"
QWEN_TUI = "qwen-tui"  # another qwen-tui's `serve`
OWNERS = {"vllm": VLLM, "llamacpp": LLAMA_CPP, "qwen-tui": QWEN_TUI}
CONNECT_TIMEOUT = 10.0  # seconds to open a connection
READ_TIMEOUT = 600.0  # seconds a server may send nothing (a long prompt on a busy GPU)
PROBE_TIMEOUT = 30.0  # seconds to answer a question about itself


@dataclass(frozen=True)
class ServerInfo:
    flavor: str  # VLLM, LLAMA_CPP, OLLAMA, QWEN_TUI or OPENAI
    models: tuple[str, ...]  # the ids it lists
    model: str  # the id to send: the entry's, or ollama's "<model>:latest" for a bare name
    context_window: int = 0  # the model's window as the server says it; 0: it does not say


def client(entry: RemoteEntry, read_timeout: float = READ_TIMEOUT) -> httpx.Client:
    headers = {"User-Agent": "qwen-tui"}
    key = entry.api_key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    timeout = httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT)
    # A connection per request: a stop shuts its socket down (engine._Watch), which needs
    # the socket from the moment it opens, never one kept from an earlier request.
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(
        base_url=entry.base_url + "/", headers=headers, timeout=timeout, limits=limits
    )


def root(entry: RemoteEntry) -> str:
    """The server's address without the API's ``/v1``."""
    return entry.base_url.removesuffix("/v1")


def request(entry: RemoteEntry, http: httpx.Client, path: str) -> httpx.Response:
    """GET ``path`` (relative to base_url, or absolute), with failures as one sentence."""
    try:
        return http.get(path, timeout=httpx.Timeout(PROBE_TIMEOUT, connect=CONNECT_TIMEOUT))
    except httpx.TransportError as exc:
        raise errors.connection_error(entry, exc, CONNECT_TIMEOUT, PROBE_TIMEOUT) from None


def probe(entry: RemoteEntry, http: httpx.Client, *, need_model: bool = True) -> ServerInfo:
    """The server behind ``entry``; raises RemoteError when it cannot be used (unreachable,
    refusing, not OpenAI-compatible, or, with ``need_model``, not serving the entry's model)."""
    response = request(entry, http, "models")
    if response.status_code >= 400:
        raise errors.http_error(entry, response.status_code, response.content, "the model list")
    try:
        data = response.json()
    except ValueError:
        raise errors.not_openai(entry, "its answer to /models is not JSON") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise errors.not_openai(entry, "its answer to /models has no model list")
    cards = {i["id"]: i for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)}
    ids = tuple(cards)
    owners = {card.get("owned_by") for card in cards.values()}
    flavor = next((OWNERS[o] for o in owners if isinstance(o, str) and o in OWNERS), OPENAI)
    if flavor == OPENAI and _is_ollama(entry, http):
        flavor = OLLAMA
    model = _served_as(entry.model, ids, flavor)
    if model is None:
        if need_model:
            raise errors.model_missing(entry, list(ids))
        model = entry.model
    window = _window(cards.get(model, {}))
    if flavor == LLAMA_CPP and not window:
        window = _llama_props_window(entry, http)
    return ServerInfo(flavor, ids, model, window)


def _served_as(model: str, ids: tuple[str, ...], flavor: str) -> str | None:
    if model in ids:
        return model
    if flavor == OLLAMA and f"{model}:latest" in ids:
        return f"{model}:latest"  # ollama's own shorthand
    if flavor == LLAMA_CPP and len(ids) == 1:
        return model  # one model loaded: llama-server answers whatever the request names
    return None


def _window(card: dict[str, Any]) -> int:
    meta = card.get("meta")
    for value in (card.get("max_model_len"), meta.get("n_ctx") if isinstance(meta, dict) else 0):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


def _is_ollama(entry: RemoteEntry, http: httpx.Client) -> bool:
    if not entry.base_url.endswith("/v1"):
        return False
    try:
        response = http.get(root(entry) + "/api/version", timeout=CONNECT_TIMEOUT)
        return response.status_code == 200 and "version" in response.json()
    except (httpx.HTTPError, ValueError, TypeError):
        return False


def _llama_props_window(entry: RemoteEntry, http: httpx.Client) -> int:
    try:
        response = http.get(root(entry) + "/props", timeout=CONNECT_TIMEOUT)
        settings = response.json().get("default_generation_settings") or {}
        return _window({"max_model_len": settings.get("n_ctx")})
    except (httpx.HTTPError, ValueError, AttributeError, TypeError):
        return 0
