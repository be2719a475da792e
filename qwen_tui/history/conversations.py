"""Conversation repository: create, search, stream-save, export and import.

One sqlite3 connection shared by the UI thread and the generation worker;
every access holds one ``threading.RLock``. Writes that touch several rows run
in ``BEGIN IMMEDIATE`` transactions; ``update_message`` is one autocommit UPDATE.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from qwen_tui.history import db

DEFAULT_TITLE = "New chat"
TITLE_MAX_CHARS = 60
ROLES = ("system", "user", "assistant")
STATES = ("complete", "streaming", "stopped", "error")
EXPORT_FORMAT = "qwen-tui-conversation"
EXPORT_VERSION = 1

_CONVERSATION_COLUMNS = "c.id, c.title, c.created_at, c.updated_at, c.system_prompt, c.params, c.model"
_MESSAGE_COLUMNS = "id, conversation_id, role, content, state, stats, created_at"


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float  # Unix seconds
    updated_at: float
    system_prompt: str | None
    params: dict[str, Any]
    model: str | None


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str  # "system" | "user" | "assistant"
    content: str
    state: str  # "complete" | "streaming" | "stopped" | "error"
    stats: dict[str, Any] | None
    created_at: float


def title_from_message(content: str) -> str | None:
    """First non-blank line, whitespace-collapsed, at most 60 chars (ending in "…")."""
    for line in content.splitlines():
        title = " ".join(line.split())
        if title:
            if len(title) > TITLE_MAX_CHARS:
                title = title[: TITLE_MAX_CHARS - 1].rstrip() + "…"
            return title
    return None


def _clean_title(title: str | None) -> str:
    return " ".join((title or "").split()) or DEFAULT_TITLE


def _dumps(value: dict[str, Any] | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict, not {type(value).__name__}.")
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serializable: {exc}.") from exc


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}.")


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(row[0], row[1], row[2], row[3], row[4],
                        json.loads(row[5]) if row[5] else {}, row[6])


def _message(row: tuple[Any, ...]) -> Message:
    return Message(row[0], row[1], row[2], row[3], row[4],
                   json.loads(row[5]) if row[5] else None, row[6])


class ConversationStore:
    """All conversations in one SQLite file. Missing ids raise ``KeyError``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = db.connect(self.path)
        try:
            # A crash mid-reply leaves 'streaming' rows: keep their text, mark stopped.
            self._conn.execute("UPDATE messages SET state = 'stopped' WHERE state = 'streaming'")
            self._tokenizer = db.search_tokenizer(self._conn)
            row = self._conn.execute("SELECT max(updated_at) FROM conversations").fetchone()
            self._last_time: float = row[0] or 0.0
        except BaseException:
            self._conn.close()
            raise

    @property
    def search_tokenizer(self) -> str:
        """``"trigram"`` or ``"unicode61"``: how the search index was built."""
        return self._tokenizer

    # -- plumbing ---------------------------------------------------------

    def _now(self) -> float:
        """Wall-clock seconds, strictly increasing within this store (stable ordering)."""
        with self._lock:
            self._last_time = max(time.time(), self._last_time + 1e-6)
            return self._last_time

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _update_conversation(self, conversation_id: int, column: str, value: Any) -> None:
        with self._lock:
            cur = self._conn.execute(
                f"UPDATE conversations SET {column} = ?, updated_at = ? WHERE id = ?",
                (value, self._now(), conversation_id),
            )
        if cur.rowcount == 0:
            raise KeyError(f"no conversation with id {conversation_id}")

    def _require(self, conversation_id: int) -> str:
        """The conversation's title; ``KeyError`` if it does not exist."""
        row = self._conn.execute(
            "SELECT title FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no conversation with id {conversation_id}")
        return str(row[0])

    # -- conversations ----------------------------------------------------

    def create(
        self,
        title: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
        model: str | None = None,
    ) -> Conversation:
        params_json = _dumps(params, "params")
        with self._write() as conn:
            now = self._now()
            cur = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, system_prompt,"
                " params, model) VALUES (?, ?, ?, ?, ?, ?)",
                (_clean_title(title), now, now, system_prompt, params_json, model),
            )
            assert cur.lastrowid is not None
            return self.get(cur.lastrowid)

    def get(self, conversation_id: int) -> Conversation:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise KeyError(f"no conversation with id {conversation_id}")
        return _conversation(row)

    def list(self, query: str | None = None, limit: int = 500) -> builtins.list[Conversation]:
        """Most recently updated first; with a query, only matching ones (see db.search_filter)."""
        where, params = db.search_filter(query, self._tokenizer)
        sql = f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c"
        if where:
            sql += f" WHERE {where}"
        sql += " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [_conversation(row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        """Blank titles become "New chat"; whitespace is collapsed."""
        self._update_conversation(conversation_id, "title", _clean_title(title))

    def delete(self, conversation_id: int) -> None:
        """Delete the conversation and (by cascade) its messages."""
        with self._lock:
            cur = self._conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        if cur.rowcount == 0:
            raise KeyError(f"no conversation with id {conversation_id}")

    def set_system_prompt(self, conversation_id: int, text: str | None) -> None:
        self._update_conversation(conversation_id, "system_prompt", text)

    def set_params(self, conversation_id: int, params: dict[str, Any]) -> None:
        self._update_conversation(conversation_id, "params", _dumps(params, "params"))

    def set_model(self, conversation_id: int, name: str | None) -> None:
        self._update_conversation(conversation_id, "model", name)

    # -- messages ---------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        state: str = "complete",
        stats: dict[str, Any] | None = None,
    ) -> Message:
        """Append a message; the first user message names a "New chat"."""
        _check(role, ROLES, "role")
        _check(state, STATES, "state")
        stats_json = _dumps(stats, "stats")
        with self._write() as conn:
            title = self._require(conversation_id)
            now = self._now()
            new_title = title
            if title == DEFAULT_TITLE and role == "user" and not conn.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'user' LIMIT 1",
                (conversation_id,),
            ).fetchone():
                new_title = title_from_message(content) or title
            cur = conn.execute(
                f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, state, stats_json, now),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ?, title = ? WHERE id = ?",
                (now, new_title, conversation_id),
            )
            assert cur.lastrowid is not None
            return Message(cur.lastrowid, conversation_id, role, content, state, stats, now)

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        state: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        """Change the given fields with one autocommit UPDATE (cheap enough per second)."""
        sets: builtins.list[str] = []
        values: builtins.list[Any] = []
        if content is not None:
            sets.append("content = ?")
            values.append(content)
        if state is not None:
            _check(state, STATES, "state")
            sets.append("state = ?")
            values.append(state)
        if stats is not None:
            sets.append("stats = ?")
            values.append(_dumps(stats, "stats"))
        if not sets:
            return
        with self._lock:
            cur = self._conn.execute(
                f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*values, message_id)
            )
        if cur.rowcount == 0:
            raise KeyError(f"no message with id {message_id}")

    def messages(self, conversation_id: int) -> builtins.list[Message]:
        """The conversation's messages, oldest first."""
        with self._lock:
            self._require(conversation_id)
            rows = self._conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return [_message(row) for row in rows]

    def delete_messages_from(self, conversation_id: int, message_id: int) -> None:
        """Delete ``message_id`` and every later message of the conversation."""
        with self._write() as conn:
            if not conn.execute(
                "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                (message_id, conversation_id),
            ).fetchone():
                raise KeyError(f"no message {message_id} in conversation {conversation_id}")
            conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id >= ?",
                (conversation_id, message_id),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (self._now(), conversation_id),
            )

    # -- export / import --------------------------------------------------

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        with self._lock:
            conversation = self.get(conversation_id)
            messages = self.messages(conversation_id)
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "title": conversation.title,
            "created_at": conversation.created_at,
            "system_prompt": conversation.system_prompt,
            "params": conversation.params,
            "model": conversation.model,
            "messages": [
                {"role": m.role, "content": m.content, "state": m.state,
                 "stats": m.stats, "created_at": m.created_at}
                for m in messages
            ],
        }

    def import_json(self, data: dict[str, Any]) -> Conversation:
        """Add an exported conversation as a new one; ``ValueError`` on bad input."""
        _validate_export(data)
        now = self._now()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, system_prompt,"
                " params, model) VALUES (?, ?, ?, ?, ?, ?)",
                (_clean_title(data["title"]), _number(data.get("created_at"), now), now,
                 data.get("system_prompt"), _dumps(data.get("params"), "params"),
                 data.get("model")),
            )
            assert cur.lastrowid is not None
            for m in data["messages"]:
                state = m.get("state", "complete")
                conn.execute(
                    "INSERT INTO messages (conversation_id, role, content, state, stats,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (cur.lastrowid, m["role"], m["content"],
                     "stopped" if state == "streaming" else state,
                     _dumps(m.get("stats"), "stats"), _number(m.get("created_at"), now)),
                )
            return self.get(cur.lastrowid)

    def export_markdown(self, conversation_id: int) -> str:
        with self._lock:
            conversation = self.get(conversation_id)
            messages = self.messages(conversation_id)
        parts = [f"# {conversation.title}"]
        if conversation.system_prompt:
            parts.append(f"## System prompt\n\n{conversation.system_prompt}")
        headings = {"user": "You", "assistant": "Assistant", "system": "System"}
        marks = {"stopped": "_(stopped)_", "error": "_(error)_", "streaming": "_(incomplete)_"}
        for m in messages:
            body = f"## {headings[m.role]}\n\n{m.content}"
            if m.state in marks:
                body += f"\n\n{marks[m.state]}"
            parts.append(body)
        return "\n\n".join(parts) + "\n"

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _number(value: Any, default: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else default


def _validate_export(data: Any) -> None:
    """Raise ``ValueError`` (one sentence) unless ``data`` is an export we can read."""
    if not isinstance(data, dict):
        raise ValueError("A conversation export must be a JSON object.")
    if data.get("format") != EXPORT_FORMAT:
        raise ValueError(f"This is not a qwen-tui conversation (format is not {EXPORT_FORMAT!r}).")
    version = data.get("version")
    if type(version) is not int or version != EXPORT_VERSION:
        raise ValueError(f"Unsupported conversation export version {version!r} (expected 1).")
    if not isinstance(data.get("title"), str):
        raise ValueError("The conversation export has no text title.")
    for key in ("system_prompt", "model"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"The conversation export field {key!r} must be text or null.")
    if data.get("params") is not None and not isinstance(data["params"], dict):
        raise ValueError("The conversation export field 'params' must be an object or null.")
    messages = data.get("messages")
    if not isinstance(messages, builtins.list):
        raise ValueError("The conversation export has no 'messages' list.")
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise ValueError(f"Message {i} of the export is not an object.")
        if m.get("role") not in ROLES:
            raise ValueError(f"Message {i} has role {m.get('role')!r}, not one of {', '.join(ROLES)}.")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"Message {i} has no text content.")
        if m.get("state", "complete") not in STATES:
            raise ValueError(f"Message {i} has unknown state {m.get('state')!r}.")
        if m.get("stats") is not None and not isinstance(m["stats"], dict):
            raise ValueError(f"Message {i} has 'stats' that is not an object or null.")
