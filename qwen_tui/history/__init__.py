"""Conversation history: SQLite storage, full-text search, JSON/Markdown export."""

from qwen_tui.history.conversations import (
    DEFAULT_TITLE,
    Conversation,
    ConversationStore,
    Message,
)
from qwen_tui.history.db import LATEST_VERSION, HistoryError, SchemaTooNewError

__all__ = [
    "DEFAULT_TITLE",
    "LATEST_VERSION",
    "Conversation",
    "ConversationStore",
    "HistoryError",
    "Message",
    "SchemaTooNewError",
]
