"""What a ``ConversationStore`` hands out (conversations, messages, an import's result) and
how a database row becomes one. A row is read defensively: its JSON columns go through
``checked``, so values an older version stored with the wrong type never reach the UI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from qwen_tui.history.checked import clean_params, clean_stats
from qwen_tui.history.db import from_json

CONVERSATION_COLUMNS = "id, title, created_at, updated_at, system_prompt, params, model"
MESSAGE_COLUMNS = (
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
    created, ids, reasoning = row[6], _token_ids(row[7]), row[8]
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
