"""Who may use the server: the name a request is sent to (Host) and the web page it comes from
(Origin).

A page in the user's browser can send requests to 127.0.0.1. A ``text/plain`` POST needs no
CORS preflight, so without these checks any page could make the model write; and a page whose
domain is made to resolve to 127.0.0.1 (DNS rebinding) can read the replies, since to the
browser they come from its own origin. So, as llama-server and ollama do, and a bit more:

- The Host header must name this server: an IP address (a page cannot rebind an address: its
  origin would be that address), ``localhost`` and ``*.localhost`` (browsers resolve them
  to loopback themselves), the ``--host`` value, or a name given with ``--allowed-host`` (the
  machine's own name is not taken for granted: on a LAN, LLMNR and mDNS answers can be forged).
  ``--allowed-host '*'`` takes any Host; it needs a key.
- A request with an Origin header (browsers send one on every cross-origin request and every
  POST) is refused unless ``--cors-origin`` allowed that origin; an allowed one gets CORS
  headers, and its preflight (OPTIONS) is answered. ``--cors-origin '*'`` needs a key too.
- POST bodies must be ``application/json`` (``body.py``): a page cannot send that without a
  preflight, which an origin not allowed never passes.

Clients that are not browsers (curl, the OpenAI libraries, editors) send no Origin and use the
name they were given, so none of this concerns them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..text import quoted
from .errors import ApiError

ANY = "*"
ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://(\[[0-9a-f:.]+\]|[^/?#\s@:\[\]]+)(?::(\d{1,5}))?")
DEFAULT_PORTS = {"http": "80", "https": "443"}
PREFLIGHT_SECONDS = "600"


@dataclass(frozen=True)
class Access:
    hosts: frozenset[str] = frozenset()  # host names besides addresses and *.localhost; "*": any
    origins: frozenset[str] = frozenset()  # scheme://host[:port] of pages allowed; "*": any

    @property
    def wildcard(self) -> bool:
        """Whether any Host, or any web page, may use the server (it needs a key)."""
        return ANY in self.hosts or ANY in self.origins

    def host_allowed(self, header: str) -> bool:
        if ANY in self.hosts:
            return True
        name = host_name(header)
        if name is None:
            return False
        local = name == "localhost" or name.endswith(".localhost")
        return local or name in self.hosts or _is_address(name)

    def origin_allowed(self, origin: str) -> bool:
        return ANY in self.origins or origin.strip().lower() in self.origins


def access_for(bind_host: str, allowed_hosts: Iterable[str], cors_origins: Iterable[str]) -> Access:
    """The access rules of ``serve --host H --allowed-host ... --cors-origin ...``; ValueError
    with one sentence for a value that is not a host name or an origin."""
    hosts: set[str] = set()
    for given in (bind_host, *allowed_hosts):
        if _is_address(given.strip().strip("[]")):
            continue  # every address is allowed
        name = ANY if given.strip() == ANY else host_name(given)
        if not name:
            raise ValueError(f"'{given}' is not a host name (write it as in a URL: NAME[:PORT]).")
        hosts.add(name)
    return Access(frozenset(hosts), frozenset(normal_origin(o) for o in cors_origins))


def host_name(header: str) -> str | None:
    """The name in a Host header (``name``, ``name:port``, ``[::1]:port``), lowercase, without
    port, brackets or a final dot; None when it is not one."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, port = header[1:].partition("]")
        if not bracket:
            return None
    else:
        name, colon, rest = header.partition(":")
        port = colon + rest
    if port and not re.fullmatch(r":\d{1,5}", port):
        return None
    name = name.rstrip(".")
    return name if name and re.fullmatch(r"[a-z0-9_.:%-]+", name) else None


def normal_origin(given: str) -> str:
    """An origin as browsers send it (``http://localhost:3000``: lowercase, no default port, no
    path), or "*"; ValueError for anything else."""
    text = given.strip().lower().removesuffix("/")
    if text == ANY:
        return ANY
    match = ORIGIN.fullmatch(text)
    if not match:
        raise ValueError(
            f"'{given}' is not a web origin: write scheme://host[:port], as the browser shows "
            "the page's address (http://localhost:3000), or '*'."
        )
    scheme, host, port = match.groups()
    keep_port = port and DEFAULT_PORTS.get(scheme) != port
    return f"{scheme}://{host}:{port}" if keep_port else f"{scheme}://{host}"


class AccessGuard:
    """ASGI middleware: 403 for a foreign Host or an origin not allowed, CORS for allowed ones."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None and not self.access.host_allowed(host):
            refusal = _forbidden(
                f"This server does not answer requests sent to {quoted(host)}; start it with "
                "--allowed-host NAME to accept that name.",
                "host_not_allowed",
            )
            await refusal(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if not self.access.origin_allowed(origin):
            refusal = _forbidden(
                f"Requests from web pages at {quoted(origin)} are refused; start the server "
                "with --cors-origin ORIGIN to allow that page.",
                "origin_not_allowed",
            )
            await refusal(scope, receive, send)
            return
        allowed = ANY if ANY in self.access.origins else origin
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(allowed, headers)(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_cors(MutableHeaders(scope=message), allowed)
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _add_cors(headers: MutableHeaders, origin: str) -> None:
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = "Retry-After"
    headers.add_vary_header("Origin")


def _preflight(origin: str, request: Headers) -> Response:
    """The answer to a browser's OPTIONS: which methods and headers the page may send."""
    response = Response(status_code=204)
    _add_cors(response.headers, origin)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    asked = request.get("access-control-request-headers")
    response.headers["Access-Control-Allow-Headers"] = asked or "Authorization, Content-Type"
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_SECONDS
    return response


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _forbidden(message: str, code: str) -> Response:
    return ApiError(403, message, code=code).response()
