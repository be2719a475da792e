"""What a ``ConversationStore`` hands out (conversations, messages, an import's result) and
how a database row becomes one. A row is read defensively: its JSON columns go through
``checked``, so values an older version stored with the wrong type never reach the UI."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from qwen_tui.engine.types import Attachment, ChatMessage, ToolCall
from qwen_tui.history.checked import (
    clean_attachments,
    clean_params,
    clean_stats,
    clean_text,
    clean_tool_calls,
)
from qwen_tui.history.db import from_json

CONVERSATION_COLUMNS = "id, title, created_at, updated_at, system_prompt, params, model"
MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, state, stats, created_at, token_ids, reasoning,"
    " attachments, tool_calls, tool_call_id, tool_name"
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
    role: str  # "system" | "user" | "assistant" | "tool" (a tool's result)
    content: str
    state: str  # "complete" | "streaming" | "stopped" | "error"
    stats: dict[str, Any] | None = field(hash=False)
    created_at: float
    token_ids: tuple[int, ...] | None = None  # a reply's tokens as the model generated them
    reasoning: str = ""  # a reply's thinking (its <think> block), apart from its answer
    attachments: tuple[Attachment, ...] = ()  # the files sent with a user message
    tool_calls: tuple[ToolCall, ...] = ()  # the calls an assistant message makes
    tool_servers: dict[str, str] = field(default_factory=dict, hash=False)  # call id -> MCP server
    tool_call_id: str = ""  # a tool's result: the call it answers
    tool_name: str = ""  # a tool's result: the tool's name

    def chat_message(self) -> ChatMessage:
        """The message as an engine takes it."""
        return ChatMessage(
            self.role,
            self.content,
            self.token_ids,
            self.reasoning,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            name=self.tool_name,
            attachments=self.attachments,
        )


@dataclass(frozen=True)
class Imported:
    conversation: Conversation
    dropped: list[str]  # a sentence per wrong value of the export that was left out


def conversation_from_row(row: tuple[Any, ...]) -> Conversation:
    cid, title, created, updated, system = row[:5]
    params, _ = clean_params(from_json(row[5]))  # what an older version stored may be wrong
    return Conversation(cid, title, created, updated, system, params, row[6])


def message_from_row(row: tuple[Any, ...]) -> Message:
    mid, cid, role, content, state = row[:5]
    stats, _ = clean_stats(from_json(row[5]))
    created, ids = row[6], _token_ids(row[7])
    attachments, _ = clean_attachments(from_json(row[9]))
    calls, servers, _ = clean_tool_calls(from_json(row[10]))
    reasoning, tool_call_id, tool_name = (clean_text(row[i], "")[0] for i in (8, 11, 12))
    return Message(
        *(mid, cid, role, content, state, stats, created, ids, reasoning),
        attachments=attachments,
        tool_calls=calls,
        tool_servers=servers,
        tool_call_id=tool_call_id,
        tool_name=tool_name,
    )


def message_row(
    conversation_id: int,
    role: str,
    content: str,
    state: str,
    *,
    stats: str | None,  # as JSON
    reasoning: str,
    attachments: tuple[Attachment, ...],
    tool_calls: tuple[ToolCall, ...],
    tool_servers: dict[str, str] | None,
    tool_call_id: str,
    tool_name: str,
) -> dict[str, Any]:
    """A message as the columns of its row (``created_at`` is the caller's to add)."""
    return {
        "conversation_id": conversation_id,
        "role": role,
        "content": content,
        "state": state,
        "stats": stats,
        "reasoning": reasoning,
        "attachments": attachments_json(attachments),
        "tool_calls": tool_calls_json(tool_calls, tool_servers),
        "tool_call_id": tool_call_id,
        "tool_name": tool_name,
    }


def insert_message(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    """Insert a message row (inside a transaction) from ``message_row``'s columns; its id."""
    columns, marks = ", ".join(values), ", ".join("?" * len(values))
    cur = conn.execute(f"INSERT INTO messages ({columns}) VALUES ({marks})", tuple(values.values()))
    assert cur.lastrowid is not None
    return cur.lastrowid


def attachments_json(attachments: tuple[Attachment, ...]) -> str | None:
    """The ``attachments`` column of these files (NULL for none)."""
    if not attachments:
        return None
    return json.dumps([{"name": a.name, "text": a.text} for a in attachments], ensure_ascii=False)


def tool_calls_json(calls: tuple[ToolCall, ...], servers: dict[str, str] | None) -> str | None:
    """The ``tool_calls`` column of these calls, each with its server where one is given."""
    if not calls:
        return None
    rows = [tool_call_entry(call, (servers or {}).get(call.id)) for call in calls]
    return json.dumps(rows, ensure_ascii=False)


def tool_call_entry(call: ToolCall, server: str | None) -> dict[str, str]:
    entry = {"id": call.id, "name": call.name, "arguments": call.arguments}
    return {**entry, "server": server} if server else entry


def _token_ids(text: str | None) -> tuple[int, ...] | None:
    """A stored id list; anything else (absent, damaged) is None: the text is re-tokenized."""
    try:
        ids = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(ids, list) and all(type(i) is int for i in ids):
        return tuple(ids)
    return None
