"""Conversation history: SQLite storage, full-text search, JSON/Markdown export."""

from qwen_tui.history.conversations import DEFAULT_TITLE, ConversationStore
from qwen_tui.history.db import LATEST_VERSION, HistoryError, SchemaTooNewError
from qwen_tui.history.records import Conversation, Imported, Message

__all__ = [
    "DEFAULT_TITLE",
    "LATEST_VERSION",
    "Conversation",
    "ConversationStore",
    "HistoryError",
    "Imported",
    "Message",
    "SchemaTooNewError",
]
