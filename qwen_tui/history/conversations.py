"""Conversation repository: create, search, stream-save, export and import."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

from qwen_tui.engine.types import Attachment, ToolCall
from qwen_tui.history import db, export
from qwen_tui.history.db import to_json
from qwen_tui.history.records import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    Conversation,
    Imported,
    Message,
    conversation_from_row,
    insert_message,
    message_from_row,
    message_row,
    tool_calls_json,
)
from qwen_tui.history.search import search_filter

DEFAULT_TITLE = "New chat"
TITLE_MAX_CHARS = 60
ROLES, STATES = export.ROLES, export.STATES


def title_from_message(content: str) -> str | None:
    """First non-blank line, whitespace-collapsed; over 60 chars, cut to 60 ending in "…"."""
    for line in content.splitlines():
        title = " ".join(line.split())
        if len(title) > TITLE_MAX_CHARS:
            return title[: TITLE_MAX_CHARS - 1].rstrip() + "…"
        if title:
            return title
    return None


def _clean_title(title: str | None) -> str:
    return " ".join((title or "").split()) or DEFAULT_TITLE


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}.")


def _missing(conversation_id: int) -> KeyError:
    return KeyError(f"no conversation with id {conversation_id}")


class ConversationStore:
    """All conversations in one SQLite file. Unknown ids raise ``KeyError``."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        # also marks replies a crash left 'streaming' stopped (unless read-only)
        self._db = db.Database(self.path, read_only)

    @property
    def read_only(self) -> bool:
        return self._db.read_only

    @property
    def search_tokenizer(self) -> str:
        """``"trigram"`` (substring search) or ``"unicode61"`` (word-prefix search)."""
        return self._db.tokenizer

    def _set(self, conversation_id: int, column: str, value: Any) -> None:
        """Set one column (a fixed name, never user input) and bump updated_at."""
        sql = f"UPDATE conversations SET {column} = ?, updated_at = ? WHERE id = ?"
        if self._db.execute(sql, (value, self._db.now(), conversation_id)).rowcount == 0:
            raise _missing(conversation_id)

    def _insert_conversation(
        self,
        title: str | None,
        created_at: float | None,
        system_prompt: str | None,
        params: dict[str, Any] | None,
        model: str | None,
    ) -> int:
        """Insert a conversation (inside a transaction); return its id."""
        now = self._db.now()
        cur = self._db.execute(
            "INSERT INTO conversations (title, created_at, updated_at, system_prompt, params,"
            " model) VALUES (?, ?, ?, ?, ?, ?)",
            (
                _clean_title(title),
                now if created_at is None else created_at,
                now,
                system_prompt,
                to_json(params, "params"),
                model,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def create(
        self,
        title: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
        model: str | None = None,
    ) -> Conversation:
        """A new conversation; a missing or blank title becomes "New chat"."""
        with self._db.transaction():
            return self.get(self._insert_conversation(title, None, system_prompt, params, model))

    def get(self, conversation_id: int) -> Conversation:
        rows = self._db.rows(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        )
        if not rows:
            raise _missing(conversation_id)
        return conversation_from_row(rows[0])

    def list(self, query: str | None = None, limit: int = 500) -> builtins.list[Conversation]:
        """Most recently updated first; a query keeps matches only (see search_filter)."""
        where, params = search_filter(query, self._db.tokenizer)
        sql = f"SELECT {CONVERSATION_COLUMNS} FROM conversations c"
        sql += f" WHERE {where}" if where else ""
        sql += " ORDER BY updated_at DESC, id DESC LIMIT ?"
        return [conversation_from_row(row) for row in self._db.rows(sql, (*params, limit))]

    def rename(self, conversation_id: int, title: str) -> None:
        """Whitespace is collapsed; a blank title becomes "New chat"."""
        self._set(conversation_id, "title", _clean_title(title))

    def delete(self, conversation_id: int) -> None:
        """Delete the conversation and, by cascade, its messages."""
        sql = "DELETE FROM conversations WHERE id = ?"
        if self._db.execute(sql, (conversation_id,)).rowcount == 0:
            raise _missing(conversation_id)

    def set_system_prompt(self, conversation_id: int, text: str | None) -> None:
        self._set(conversation_id, "system_prompt", text)

    def set_params(self, conversation_id: int, params: dict[str, Any]) -> None:
        self._set(conversation_id, "params", to_json(params, "params"))

    def set_model(self, conversation_id: int, name: str | None) -> None:
        self._set(conversation_id, "model", name)

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        state: str = "complete",
        stats: dict[str, Any] | None = None,
        reasoning: str = "",
        *,
        attachments: tuple[Attachment, ...] = (),
        tool_calls: tuple[ToolCall, ...] = (),
        tool_servers: dict[str, str] | None = None,
        tool_call_id: str = "",
        tool_name: str = "",
    ) -> Message:
        """Append a message; the first user message of a "New chat" becomes its title (its
        first file's name, when it has no text). ``tool_servers`` maps a call's id to the MCP
        server that ran it; ``tool_call_id`` and ``tool_name`` belong to a "tool" message."""
        _check(role, ROLES, "role")
        _check(state, STATES, "state")
        values = message_row(
            conversation_id,
            role,
            content,
            state,
            stats=to_json(stats, "stats"),
            reasoning=reasoning,
            attachments=attachments,
            tool_calls=tool_calls,
            tool_servers=tool_servers,
            tool_call_id=tool_call_id,
            tool_name=tool_name,
        )
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT title, EXISTS (SELECT 1 FROM messages WHERE conversation_id = ?"
                " AND role = 'user') FROM conversations WHERE id = ?",
                (conversation_id, conversation_id),
            ).fetchone()
            if row is None:
                raise _missing(conversation_id)
            title, had_user_message = row
            if title == DEFAULT_TITLE and role == "user" and not had_user_message:
                named = title_from_message(attachments[0].name) if attachments else None
                title = title_from_message(content) or named or title
            values["created_at"] = now = self._db.now()
            message_id = insert_message(conn, values)
            conn.execute(
                "UPDATE conversations SET updated_at = ?, title = ? WHERE id = ?",
                (now, title, conversation_id),
            )
            saved = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        return message_from_row(saved)  # as every later read gives it

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        state: str | None = None,
        stats: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
        reasoning: str | None = None,
        tool_calls: tuple[ToolCall, ...] | None = None,
        tool_servers: dict[str, str] | None = None,
    ) -> None:
        """Change the given fields: one autocommit UPDATE, cheap enough to call every second.
        ``tool_calls`` (a reply's, once it ends) are stored with ``tool_servers``."""
        if state is not None:
            _check(state, STATES, "state")
        changes = {
            "content": content,
            "state": state,
            "stats": to_json(stats, "stats"),
            "token_ids": None if token_ids is None else json.dumps([int(i) for i in token_ids]),
            "reasoning": reasoning,
            "tool_calls": None if tool_calls is None else tool_calls_json(tool_calls, tool_servers),
        }
        changes = {column: value for column, value in changes.items() if value is not None}
        if not changes:
            return
        assignments = ", ".join(f"{column} = ?" for column in changes)
        sql = f"UPDATE messages SET {assignments} WHERE id = ?"
        if self._db.execute(sql, (*changes.values(), message_id)).rowcount == 0:
            raise KeyError(f"no message with id {message_id}")

    def messages(self, conversation_id: int) -> builtins.list[Message]:
        """The conversation's messages, oldest first."""
        with self._db.lock:
            self.get(conversation_id)
            rows = self._db.rows(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        return [message_from_row(row) for row in rows]

    def delete_messages_from(self, conversation_id: int, message_id: int) -> None:
        """Delete ``message_id`` and every later message of the conversation."""
        with self._db.transaction() as conn:
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
                (self._db.now(), conversation_id),
            )

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        with self._db.lock:
            c, messages = self.get(conversation_id), self.messages(conversation_id)
        return export.to_json(c, messages)

    def import_json(self, data: dict[str, Any]) -> Imported:
        """Add an export as a new conversation; ``ValueError`` (one sentence) when it cannot
        be one. Values of the wrong type or range in its params and stats are left out and
        listed in ``Imported.dropped``."""
        data, dropped = export.checked(data)
        with self._db.transaction() as conn:
            new_id = self._insert_conversation(
                data["title"],
                export.number(data.get("created_at")),
                data.get("system_prompt"),
                data.get("params"),
                data.get("model"),
            )
            export.insert_messages(conn, new_id, data["messages"], self._db.now)
            return Imported(self.get(new_id), dropped)

    def export_files(self, conversation_id: int, folder: Path) -> tuple[Path, Path]:
        """The chat as Markdown and JSON files in ``folder`` (see ``export.write_files``)."""
        with self._db.lock:
            c, messages = self.get(conversation_id), self.messages(conversation_id)
        return export.write_files(c, messages, folder)

    def export_markdown(self, conversation_id: int) -> str:
        with self._db.lock:
            c, messages = self.get(conversation_id), self.messages(conversation_id)
        return export.to_markdown(c, messages)

    def close(self) -> None:
        self._db.close()
