"""What can go wrong talking to a server, each as one sentence and a next step."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ...errors import EngineError
from ...remotes import RemoteEntry


class RemoteError(EngineError):
    """A remote server could not be used (the message names it and says what it did)."""


def _where(entry: RemoteEntry) -> str:
    return f'[[remote]] "{entry.name}" in config.toml'


def _hint(entry: RemoteEntry, in_config: str, in_form: str) -> str:
    """The next step for an entry of the config file, or for one without a name yet (the
    wizard's form, being filled in)."""
    return in_config if entry.name else in_form


def _who(entry: RemoteEntry) -> str:
    return f"{entry.name} ({entry.host})" if entry.name else entry.host


def connection_error(
    entry: RemoteEntry, exc: httpx.TransportError, connect_timeout: float, read_timeout: float
) -> RemoteError:
    """A request that got no HTTP answer: refused, unknown host, timed out, cut."""
    text = str(exc).lower()
    host = entry.host
    check = _hint(
        entry,
        f"Check that the server runs and the base_url of {_where(entry)}.",
        "Check that the server runs and the URL is right.",
    )
    if isinstance(exc, httpx.ConnectTimeout):
        return RemoteError(f"{host} did not answer within {connect_timeout:g} s.", check)
    if isinstance(exc, httpx.ReadTimeout):
        return RemoteError(
            f"{_who(entry)} sent nothing for {read_timeout:g} s.",
            "The server may be overloaded; try again, or check its log.",
        )
    if isinstance(exc, httpx.ConnectError):
        if any(s in text for s in ("name or service", "nodename", "getaddrinfo", "resolution")):
            hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            return RemoteError(f"The host name {hostname} is not known.", check)
        if "refused" in text:
            return RemoteError(f"{host} refused the connection (nothing listens there).", check)
        if "certificate" in text or "ssl" in text:
            return RemoteError(f"{host}'s TLS certificate was not accepted ({exc}).", check)
        return RemoteError(f"Cannot connect to {host} ({exc}).", check)
    return RemoteError(
        f"The connection to {_who(entry)} broke ({type(exc).__name__}).",
        "What was written so far is kept; try again.",
    )


def server_message(body: bytes | str) -> str:
    """The server's own words from an error body (OpenAI's {"error": {"message"}}, vLLM's
    older top-level "message", ollama's {"error": "..."}, FastAPI's "detail"), one line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = text
    found: Any = data
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict):
            found = inner.get("message") or inner.get("detail") or inner
        else:
            found = inner or data.get("message") or data.get("detail")
    message = found if isinstance(found, str) else json.dumps(found)
    message = " ".join(message.split()).rstrip(". ")
    return message[:197] + "…" if len(message) > 200 else message


def http_error(entry: RemoteEntry, status: int, body: bytes, what: str) -> RemoteError:
    """An HTTP error answer to ``what`` ("the model list", "the chat request")."""
    said = server_message(body)
    detail = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    if status in (401, 403):
        if entry.api_key_env and not entry.api_key():
            hint = f"Set the environment variable {entry.api_key_env} to the key."
        elif entry.api_key_env:
            hint = f"Check the key in the environment variable {entry.api_key_env}."
        else:
            hint = "It wants an API key: put it in an environment variable and name that " + _hint(
                entry, f"in api_key_env of {_where(entry)}.", "above."
            )
        return RemoteError(f"{entry.host} refused {what} ({detail}).", hint)
    if status == 404 and what == "the model list":
        hint = _hint(
            entry,
            f"base_url should be the API root (it usually ends in /v1) in {_where(entry)}.",
            "The URL should be the API root (it usually ends in /v1).",
        )
        if not entry.base_url.endswith("/v1"):
            hint = f"Did you mean {entry.base_url}/v1?" + _hint(
                entry, f" Set it as base_url in {_where(entry)}.", ""
            )
        return RemoteError(f"{entry.base_url} is not an OpenAI-compatible API ({detail}).", hint)
    if status == 404:
        return RemoteError(
            f"{entry.host} does not know the model {entry.model} ({detail}).",
            f"Set model in {_where(entry)} to one listed at {entry.base_url}/models.",
        )
    if status in (400, 413, 422):
        too_long = any(s in said.lower() for s in ("context", "too long", "maximum", "exceed"))
        hint = (
            "Start a new chat, or give the server a larger context."
            if too_long
            else "Check this chat's parameters (f3)."
        )
        return RemoteError(f"{entry.host} refused {what} ({detail}).", hint)
    return RemoteError(
        f"{_who(entry)} failed to answer {what} ({detail}).",
        "See the server's log, then try again.",
    )


def not_openai(entry: RemoteEntry, why: str) -> RemoteError:
    return RemoteError(
        f"{entry.base_url} answered, but not as an OpenAI-compatible server ({why}).",
        _hint(
            entry,
            f"base_url should be the API root, e.g. http://host:8000/v1, in {_where(entry)}.",
            "Type the API root, e.g. http://host:8000/v1.",
        ),
    )


def model_missing(entry: RemoteEntry, served: list[str]) -> RemoteError:
    listed = ", ".join(served[:8]) + (f" and {len(served) - 8} more" if len(served) > 8 else "")
    return RemoteError(
        f"{entry.host} does not serve {entry.model} (it serves: {listed or 'nothing'}).",
        f"Set model to one of them in {_where(entry)}.",
    )


def failed_mid_reply(entry: RemoteEntry, said: str) -> RemoteError:
    return RemoteError(
        f"{entry.name} stopped with an error mid-reply: {said or 'no reason given'}.",
        "What it wrote so far is kept; ctrl+r tries again.",
    )
