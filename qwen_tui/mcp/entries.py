"""MCP servers in config.toml: ``[[mcp]]`` tables, with the field names of the common
``mcpServers`` JSON (Claude Desktop, oterm, Cursor), so a server's entry can be pasted.

```toml
[[mcp]]
name = "files"                 # the tools' prefix: files__read_text_file
command = "npx"                # stdio: the program to start, its arguments and environment
args = ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]
env = { LOG_LEVEL = "warn" }   # optional; "${NAME}" is taken from our own environment

[[mcp]]
name = "search"
url = "http://localhost:8931/mcp"              # streamable HTTP
headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
enabled = false                # kept, but not started (the app's toggle; `ask --tools` refuses it)
timeout = 120                  # seconds a call may take (default 60)
```

A bad entry is left out with one sentence naming its table, as ``[[remote]]``'s are; the rest
of the file still applies. ``from_json`` reads an ``mcpServers`` file (``qwen-tui mcp import``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config_tables import edit_named_tables, parse_named_tables

NAME = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
KEYS = ("name", "command", "args", "env", "url", "headers", "enabled", "timeout", "type")
STDIO_TYPES = ("stdio",)
HTTP_TYPES = ("http", "streamable-http", "streamable_http", "streamableHttp")
DEFAULT_TIMEOUT = 60.0
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class McpEntry:
    name: str
    command: str | None = None  # stdio: the program (found on PATH) ...
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, hash=False)  # ... over a minimal env
    url: str | None = None  # streamable HTTP
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    enabled: bool = True
    timeout: float | None = None  # seconds a tool call may take; None: DEFAULT_TIMEOUT

    @property
    def call_timeout(self) -> float:
        return self.timeout or DEFAULT_TIMEOUT

    def where(self) -> str:
        """How the server is reached, as one line: the command line or the URL."""
        if self.url:
            return self.url
        return " ".join([self.command or "", *self.args])

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"name": self.name}
        if self.command:
            table["command"] = self.command
            if self.args:
                table["args"] = list(self.args)
            if self.env:
                table["env"] = dict(self.env)
        else:
            table["url"] = self.url
            if self.headers:
                table["headers"] = dict(self.headers)
        if not self.enabled:
            table["enabled"] = False
        if self.timeout is not None:
            table["timeout"] = int(self.timeout) if self.timeout.is_integer() else self.timeout
        return table


def expand(value: str) -> str:
    """``value`` with each ``${NAME}`` replaced by that environment variable (raises
    ValueError with one sentence when it is not set)."""

    def one(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None:
            raise ValueError(f"the environment variable {match.group(1)} is not set")
        return found

    return VARIABLE.sub(one, value)


def _strings(key: str, value: Any, example: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{key} must be a table of text values, like {example}")
    return dict(value)


def parse_entry(table: Any) -> tuple[McpEntry, list[str]]:
    """An entry from one [[mcp]] table and a note per key it ignored; raises ValueError with
    one sentence when it cannot be used."""
    if not isinstance(table, dict):
        raise ValueError("each [[mcp]] must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not NAME.match(name.strip()):
        raise ValueError(
            "it needs a name of up to 32 letters, digits, _ or - (it prefixes the tools' names)"
        )
    command, url = table.get("command"), table.get("url")
    kind = table.get("type")
    if kind == "sse":
        raise ValueError("the old SSE transport is not supported; give its streamable HTTP url")
    if kind is not None and kind not in STDIO_TYPES + HTTP_TYPES:
        raise ValueError(f'type must be "stdio" or "http", not {kind!r}')
    if command is not None and url is not None:
        raise ValueError("give either command (a program to start) or url, not both")
    if command is None and url is None:
        raise ValueError("it needs a command to start or the url of a running server")
    notes = [f"unknown key '{k}' ignored" for k in table if k not in KEYS]
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be true or false, not {enabled!r}")
    timeout = table.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= 3600
    ):
        raise ValueError(f"timeout must be a number of seconds from 1 to 3600, not {timeout!r}")
    common: dict[str, Any] = {
        "name": name.strip(),
        "enabled": enabled,
        "timeout": float(timeout) if timeout is not None else None,
    }
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise ValueError('command must name the program to start, like "npx"')
        args = table.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError('args must be a list of text values, like ["-y", "package"]')
        env = _strings("env", table.get("env", {}), '{ API_KEY = "${MY_KEY}" }')
        notes += ["headers are for a url; ignored"] * ("headers" in table)
        entry = McpEntry(command=command.strip(), args=tuple(args), env=env, **common)
    else:
        parts = urlsplit(url.strip() if isinstance(url, str) else "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"url must be an http(s) URL like http://localhost:8931/mcp, not {url!r}"
            )
        headers = _strings("headers", table.get("headers", {}), '{ Authorization = "Bearer ..." }')
        notes += ["env and args are for a command; ignored"] * ("env" in table or "args" in table)
        entry = McpEntry(url=str(url).strip(), headers=headers, **common)
    return entry, notes


def parse_servers(value: Any) -> tuple[tuple[McpEntry, ...], list[str]]:
    """The usable entries of a parsed ``mcp`` value and one warning per problem."""
    return parse_named_tables(value, "mcp", parse_entry)


def from_json(data: Any) -> tuple[list[McpEntry], list[str]]:
    """The servers of a parsed ``{"mcpServers": {name: {...}}}`` file (Claude Desktop's and
    oterm's shape; VS Code's ``"servers"`` too), with one warning per server left out. A name
    our tools cannot be prefixed with is rewritten (``"My server"`` is ``My-server``)."""
    servers = data.get("mcpServers", data.get("servers")) if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return [], ['the file has no "mcpServers" object of servers.']
    entries: list[McpEntry] = []
    warnings: list[str] = []
    for raw_name, value in servers.items():
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", str(raw_name)).strip("-")[:32] or "server"
        table = dict(value) if isinstance(value, dict) else value
        if isinstance(table, dict):
            if "disabled" in table:  # Cline's and Cursor's spelling
                table["enabled"] = not table.pop("disabled")
            table["name"] = name
        try:
            entry, notes = parse_entry(table)
        except ValueError as exc:
            warnings.append(f"{raw_name!r}: {exc}; left out.")
            continue
        renamed = [f"named {name!r} here"] if name != raw_name else []
        warnings += [f"{raw_name!r}: {note}." for note in renamed + notes]
        entries.append(entry)
    return entries, warnings


def find(entries: tuple[McpEntry, ...], name: str) -> McpEntry | None:
    return next((e for e in entries if e.name == name.strip()), None)


def edit_document(document: Any, entries: tuple[McpEntry, ...]) -> None:
    """Make the [[mcp]] tables of a tomlkit document say ``entries``: a table whose entry is
    unchanged (or that cannot be read) stays as the user wrote it, with its comments; changed
    ones are rewritten in place, removed ones deleted, new ones appended."""
    edit_named_tables(document, "mcp", entries, parse_entry, _rewrite_if_changed)


def _rewrite_if_changed(table: Any, written: McpEntry, entry: McpEntry) -> None:
    if table and written == entry:
        return
    for key in list(table):
        del table[key]
    _fill(table, entry)


def _fill(table: Any, entry: McpEntry) -> None:
    """The entry's keys into a tomlkit table; env and headers as inline tables, as people
    write them (``env = { KEY = "value" }``)."""
    import tomlkit

    for key, value in entry.to_table().items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            value = inline
        table[key] = value
