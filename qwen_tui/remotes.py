"""Remote models: the ``[[remote]]`` tables of config.toml, each an OpenAI-compatible server
(vLLM, llama-server, ollama, ...) and the model id to ask it for.

```toml
[[remote]]
name = "gpu-box"                      # what F4, `models` and `ask --model` call it
base_url = "http://gpu-box:8000/v1"   # the API root: {base_url}/models, {base_url}/chat/completions
model = "Qwen/Qwen3-8B"               # an id the server lists at {base_url}/models
api_key_env = "GPU_BOX_KEY"           # optional: the environment variable holding the key
context_window = 32768                # optional: otherwise what the server says, if it says
```

The key itself is never read from or written to the file. A bad entry is left out with one
sentence and never stops the app; saving keeps the file's comments, other keys and the
entries that could not be read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .config_tables import edit_named_tables, parse_named_tables

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
KEYS = ("name", "base_url", "model", "api_key_env", "context_window")
MAX_WINDOW = 10_000_000


@dataclass(frozen=True)
class RemoteEntry:
    name: str
    base_url: str  # without a trailing slash
    model: str
    api_key_env: str | None = None
    context_window: int | None = None

    @property
    def host(self) -> str:
        """host[:port] of the server, as the UI shows it."""
        return urlsplit(self.base_url).netloc

    def api_key(self) -> str | None:
        """The key from ``api_key_env`` (None when no variable is named or it is unset)."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {
            "name": self.name,
            "base_url": self.base_url,
            "model": self.model,
        }
        if self.api_key_env:
            table["api_key_env"] = self.api_key_env
        if self.context_window:
            table["context_window"] = self.context_window
        return table


def check_base_url(value: Any) -> str:
    """An http(s) URL with a host, without its trailing slash (raises ValueError)."""
    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http(s) URL such as http://localhost:8080/v1, not {value!r}"
        )
    return text.rstrip("/")


def check_env_name(value: Any) -> str:
    if not isinstance(value, str) or not ENV_NAME.match(value.strip()):
        raise ValueError(
            "api_key_env must name an environment variable (letters, digits, _), not hold "
            "the key itself"
        )
    return value.strip()


def parse_entry(table: Any) -> tuple[RemoteEntry, list[str]]:
    """An entry from one [[remote]] table and a note per key it ignored; raises ValueError
    with one sentence when it cannot be used."""
    if not isinstance(table, dict):
        raise ValueError("each [[remote]] must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or not name.strip().isprintable():
        raise ValueError("it needs a name")
    model = table.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError('it needs the model id to ask the server for (model = "...")')
    env = table.get("api_key_env")
    window = table.get("context_window")
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW
    ):
        raise ValueError(f"context_window must be a whole number of tokens, not {window!r}")
    notes = []
    if "api_key" in table:
        notes.append(
            "api_key is never read from the file: put the key in an environment variable "
            "and name it in api_key_env"
        )
    notes += [f"unknown key '{k}' ignored" for k in table if k not in KEYS and k != "api_key"]
    entry = RemoteEntry(
        name=name.strip(),
        base_url=check_base_url(table.get("base_url")),
        model=model.strip(),
        api_key_env=check_env_name(env) if env not in (None, "") else None,
        context_window=window,
    )
    return entry, notes


def parse_remotes(value: Any) -> tuple[tuple[RemoteEntry, ...], list[str]]:
    """The usable entries of a parsed ``remote`` value and one warning per problem."""
    return parse_named_tables(value, "remote", parse_entry)


def find(entries: tuple[RemoteEntry, ...], name: str | None) -> RemoteEntry | None:
    """The entry called ``name`` (a remote's name wins over a local model's folder name)."""
    if not name:
        return None
    return next((e for e in entries if e.name == name.strip()), None)


def edit_document(document: Any, entries: tuple[RemoteEntry, ...]) -> None:
    """Make the [[remote]] tables of a tomlkit document say ``entries``: tables of entries kept
    are updated in place (their comments and order stay), removed ones deleted, new ones
    appended; a table that cannot be read is left as the user wrote it."""

    def update(table: Any, _written: RemoteEntry, entry: RemoteEntry) -> None:
        _update_table(table, entry)

    edit_named_tables(document, "remote", entries, parse_entry, update)


def _update_table(table: Any, entry: RemoteEntry) -> None:
    values = entry.to_table()
    for key in KEYS:
        if key not in values:
            if key in table:
                del table[key]
        elif _as_read(key, table.get(key)) != values[key]:
            table[key] = values[key]  # else the user's own spelling stays


def _as_read(key: str, value: Any) -> Any:
    """A table's value as an entry holds it ("http://h/v1/" is "http://h/v1")."""
    try:
        if key == "base_url":
            return check_base_url(value)
        return value.strip() if isinstance(value, str) else value
    except ValueError:
        return value


def with_entry(entries: tuple[RemoteEntry, ...], entry: RemoteEntry) -> tuple[RemoteEntry, ...]:
    """``entries`` with ``entry`` in the place of the one of its name, else added at the end."""
    if any(e.name == entry.name for e in entries):
        return tuple(entry if e.name == entry.name else e for e in entries)
    return (*entries, entry)
