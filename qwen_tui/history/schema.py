"""The fourth schema version: tool use and attached files in the messages table.

A message gains the files sent with it (``attachments``: a JSON list of ``{"name", "text"}``),
the calls an assistant message makes (``tool_calls``: a JSON list of ``{"id", "name",
"arguments"}``, each with the ``"server"`` (an MCP server's name) that ran it where one did),
and, for a tool's result, the call it answers (``tool_call_id``) and the tool's name
(``tool_name``); ``role`` may now be ``'tool'``. SQLite cannot change a CHECK constraint in
place, so the table is built anew and its rows copied over with their ids (the search index
keys on them), the id counter carried over so a deleted message's id is never given again.

The search index holds a message's text and its files' names (not their text: a 1 MB file
would cost several MB of trigrams), through JSON functions SQLite has built in since 3.38
(and in every common build before).
"""

from __future__ import annotations

import sqlite3

SEARCH_TABLE = "search_index"


def attachment_names(column: str) -> str:
    """SQL for the names in an ``attachments`` column, one a line (NULL when none); a value
    that is not JSON, or an entry that is not an object, counts as no file rather than
    failing the statement (a damaged row must not stop every search and edit)."""
    files = f"CASE WHEN json_valid({column}) THEN {column} ELSE '[]' END"
    name = "json_extract(value, '$.name')"
    return f"(SELECT group_concat({name}, char(10)) FROM json_each({files}) WHERE type = 'object')"


def _searched(row: str) -> str:
    """SQL for what the search index holds of a message row (``new`` in a trigger)."""
    return f"{row}.content || coalesce(char(10) || {attachment_names(f'{row}.attachments')}, '')"


MESSAGES_V4 = """CREATE TABLE {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'complete'
        CHECK (state IN ('complete', 'streaming', 'stopped', 'error')),
    stats TEXT,
    created_at REAL NOT NULL,
    token_ids TEXT,
    reasoning TEXT NOT NULL DEFAULT '',
    attachments TEXT,
    tool_calls TEXT,
    tool_call_id TEXT NOT NULL DEFAULT '',
    tool_name TEXT NOT NULL DEFAULT '')"""

V3_COLUMNS = "id, conversation_id, role, content, state, stats, created_at, token_ids, reasoning"


def tools_and_attachments(conn: sqlite3.Connection) -> None:
    """Schema 3 -> 4 (inside the migration's transaction)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
    last_id = row[0] if row else 0
    for trigger in ("messages_ai", "messages_au", "messages_ad"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute(MESSAGES_V4.format(name="messages_v4"))
    conn.execute(f"INSERT INTO messages_v4 ({V3_COLUMNS}) SELECT {V3_COLUMNS} FROM messages")
    conn.execute("DROP TABLE messages")
    conn.execute("ALTER TABLE messages_v4 RENAME TO messages")
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'messages'")
    conn.execute(
        "INSERT INTO sqlite_sequence (name, seq)"
        " SELECT 'messages', max(?, coalesce(max(id), 0)) FROM messages",
        (last_id,),
    )
    statements = [
        "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
        "CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming'",
        f"""CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
            INSERT INTO {SEARCH_TABLE}(rowid, text, conversation_id)
            VALUES (new.id, {_searched("new")}, new.conversation_id);
        END""",
        f"""CREATE TRIGGER messages_au AFTER UPDATE OF content, attachments ON messages
            WHEN new.content IS NOT old.content OR new.attachments IS NOT old.attachments
            BEGIN
            UPDATE {SEARCH_TABLE} SET text = {_searched("new")} WHERE rowid = old.id;
        END""",
        f"""CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            DELETE FROM {SEARCH_TABLE} WHERE rowid = old.id;
        END""",
    ]
    for statement in statements:
        conn.execute(statement)
