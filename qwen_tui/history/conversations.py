"""Conversation repository: create, search, stream-save, export and import."""

from __future__ import annotations

import builtins
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from qwen_tui.history import db
from qwen_tui.history.db import from_json, to_json

DEFAULT_TITLE = "New chat"
TITLE_MAX_CHARS = 60
ROLES = ("system", "user", "assistant")
STATES = ("complete", "streaming", "stopped", "error")
EXPORT_FORMAT = "qwen-tui-conversation"
EXPORT_VERSION = 1

_CONVERSATION_COLUMNS = "id, title, created_at, updated_at, system_prompt, params, model"
_MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, state, stats, created_at, token_ids, reasoning"
)


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float  # Unix seconds
    updated_at: float
    system_prompt: str | None
    params: dict[str, Any] = field(hash=False)  # {} when none were set
    model: str | None


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str  # "system" | "user" | "assistant"
    content: str
    state: str  # "complete" | "streaming" | "stopped" | "error"
    stats: dict[str, Any] | None = field(hash=False)
    created_at: float
    token_ids: tuple[int, ...] | None = None  # a reply's tokens as the model generated them
    reasoning: str = ""  # a reply's thinking (its <think> block), apart from its answer


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


def _conversation(row: tuple[Any, ...]) -> Conversation:
    cid, title, created, updated, system = row[:5]
    return Conversation(cid, title, created, updated, system, from_json(row[5]) or {}, row[6])


def _message(row: tuple[Any, ...]) -> Message:
    mid, cid, role, content, state = row[:5]
    stats, created, ids, reasoning = from_json(row[5]), row[6], _token_ids(row[7]), row[8]
    return Message(mid, cid, role, content, state, stats, created, ids, reasoning or "")


def _token_ids(text: str | None) -> tuple[int, ...] | None:
    """A stored id list; anything else (absent, damaged) is None: the text is re-tokenized."""
    try:
        ids = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(ids, list) and all(type(i) is int for i in ids):
        return tuple(ids)
    return None


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
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        )
        if not rows:
            raise _missing(conversation_id)
        return _conversation(rows[0])

    def list(self, query: str | None = None, limit: int = 500) -> builtins.list[Conversation]:
        """Most recently updated first; a query keeps matches only (see db.search_filter)."""
        where, params = db.search_filter(query, self._db.tokenizer)
        sql = f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c"
        sql += f" WHERE {where}" if where else ""
        sql += " ORDER BY updated_at DESC, id DESC LIMIT ?"
        return [_conversation(row) for row in self._db.rows(sql, (*params, limit))]

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
    ) -> Message:
        """Append a message; the first user message of a "New chat" becomes its title."""
        _check(role, ROLES, "role")
        _check(state, STATES, "state")
        stats_json = to_json(stats, "stats")
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
                title = title_from_message(content) or title
            now = self._db.now()
            cur = conn.execute(
                "INSERT INTO messages (conversation_id, role, content, state, stats, created_at,"
                " reasoning) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, state, stats_json, now, reasoning),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ?, title = ? WHERE id = ?",
                (now, title, conversation_id),
            )
        assert cur.lastrowid is not None
        return Message(
            cur.lastrowid, conversation_id, role, content, state, stats, now, None, reasoning
        )

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        state: str | None = None,
        stats: dict[str, Any] | None = None,
        token_ids: tuple[int, ...] | None = None,
        reasoning: str | None = None,
    ) -> None:
        """Change the given fields: one autocommit UPDATE, cheap enough to call every second."""
        if state is not None:
            _check(state, STATES, "state")
        changes = {
            "content": content,
            "state": state,
            "stats": to_json(stats, "stats"),
            "token_ids": None if token_ids is None else json.dumps([int(i) for i in token_ids]),
            "reasoning": reasoning,
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
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        return [_message(row) for row in rows]

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
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "title": c.title,
            "created_at": c.created_at,
            "system_prompt": c.system_prompt,
            "params": c.params,
            "model": c.model,
            "messages": [_exported(m) for m in messages],
        }

    def import_json(self, data: dict[str, Any]) -> Conversation:
        """Add an export as a new conversation; ``ValueError`` (one sentence) on bad input."""
        _validate_export(data)
        with self._db.transaction() as conn:
            new_id = self._insert_conversation(
                data["title"],
                _number(data.get("created_at")),
                data.get("system_prompt"),
                data.get("params"),
                data.get("model"),
            )
            for m in data["messages"]:
                state = m.get("state", "complete")
                state = "stopped" if state == "streaming" else state  # nothing streams it now
                conn.execute(
                    "INSERT INTO messages (conversation_id, role, content, state, stats,"
                    " created_at, reasoning) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        new_id,
                        m["role"],
                        m["content"],
                        state,
                        to_json(m.get("stats"), "stats"),
                        _number(m.get("created_at")) or self._db.now(),
                        m.get("reasoning") or "",
                    ),
                )
            return self.get(new_id)

    def export_markdown(self, conversation_id: int) -> str:
        with self._db.lock:
            c, messages = self.get(conversation_id), self.messages(conversation_id)
        parts = [f"# {c.title}", f"_Started {_when(c.created_at)}_"]
        if c.system_prompt:
            parts.append(f"## System prompt\n\n{c.system_prompt}")
        headings = {"user": "You", "assistant": "Assistant", "system": "System"}
        marks = {
            "stopped": "_(stopped)_",
            "error": "_(error)_",
            "streaming": "_(incomplete)_",
        }
        for m in messages:
            mark = f"\n\n{marks[m.state]}" if m.state in marks else ""
            if m.state == "complete" and (m.stats or {}).get("finish_reason") == "length":
                mark = "\n\n_(cut at max new tokens)_"
            if mark and m.reasoning and not m.content:  # it got no further than thinking
                mark = mark.replace(")_", " while thinking)_")
            about = _about(m) if m.role == "assistant" else ""
            heading = f"## {headings[m.role]} · {_when(m.created_at)}"
            body = (_thought(m.reasoning) + m.content).rstrip("\n") if m.reasoning else m.content
            parts.append(f"{heading}\n\n{about}{body}{mark}")
        return "\n\n".join(parts) + "\n"

    def close(self) -> None:
        self._db.close()


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _about(m: Message) -> str:
    """ "_qwen2.5-coder (mixed_int5) · temperature 0.7 · top_p 0.8_" for a reply's export."""
    stats = m.stats or {}
    if not stats.get("model"):
        return ""
    params = " · ".join(f"{k} {v}" for k, v in (stats.get("params") or {}).items())
    return (
        f"_{stats['model']} ({stats.get('format', '?')})"
        + (f" · {params}" if params else "")
        + "_\n\n"
    )


def _exported(m: Message) -> dict[str, Any]:
    """A message in the JSON export; its thinking as ``reasoning``, only when it thought."""
    out: dict[str, Any] = {"role": m.role}
    if m.reasoning:
        out["reasoning"] = m.reasoning
    out.update(content=m.content, state=m.state, stats=m.stats, created_at=m.created_at)
    return out


def _thought(reasoning: str) -> str:
    """A reply's thinking for the Markdown export: a quoted block headed "Thinking", before
    the answer (every line quoted, so nothing in it can end the block)."""
    if not reasoning:
        return ""
    lines = [f"> {line}".rstrip() for line in reasoning.splitlines()]
    return "> **Thinking**\n>\n" + "\n".join(lines) + "\n\n"  # the answer follows


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None


def _is_unicode(text: str) -> bool:
    """Whether the text can be stored as UTF-8 (JSON's "\\udcff" escapes can make lone
    surrogates, which SQLite refuses)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validate_export(data: Any) -> None:
    """Raise ``ValueError`` unless ``data`` is a version-1 conversation export."""

    def fail(why: str) -> NoReturn:
        raise ValueError(f"This is not a valid qwen-tui conversation export: {why}.")

    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        fail(f'"format" must be "{EXPORT_FORMAT}"')
    if type(data.get("version")) is not int or data["version"] != EXPORT_VERSION:
        fail(f'"version" is {data.get("version")!r}, only {EXPORT_VERSION} is supported')
    text_or_null = ((str, type(None)), "text or null")
    expected = {
        "title": ((str,), "text"),
        "system_prompt": text_or_null,
        "model": text_or_null,
        "params": ((dict, type(None)), "object or null"),
        "messages": ((list,), "a list"),
    }
    for key, (kinds, description) in expected.items():
        if not isinstance(data.get(key), kinds):
            fail(f'"{key}" must be {description}')
        if isinstance(data.get(key), str) and not _is_unicode(data[key]):
            fail(f'"{key}" holds a character that is not valid Unicode (a lone surrogate)')
    for i, m in enumerate(data["messages"], start=1):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            fail(f"message {i} must have a role of {', '.join(ROLES)}")
        if not isinstance(m.get("content"), str):
            fail(f"message {i} has no text content")
        if not _is_unicode(m["content"]):
            fail(f"message {i} holds a character that is not valid Unicode (a lone surrogate)")
        if m.get("state", "complete") not in STATES:
            fail(f"message {i} has an unknown state {m.get('state')!r}")
        if not isinstance(m.get("stats"), (dict, type(None))):
            fail(f"message {i} has stats that are not an object")
        if not isinstance(m.get("reasoning", ""), str):
            fail(f"message {i} has reasoning that is not text")
        if not _is_unicode(m.get("reasoning", "")):
            fail(f"message {i} holds a character that is not valid Unicode (a lone surrogate)")
