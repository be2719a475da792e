"""SQLite connection, schema migrations and the full-text search filter.

Schema version lives in ``PRAGMA user_version``; ``MIGRATIONS[i]`` moves a
database from version ``i`` to ``i + 1``. Pending migrations run in order in
one ``BEGIN IMMEDIATE`` transaction, so a half-migrated file never exists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from qwen_tui.errors import QwenTuiError

SEARCH_TABLE = "search_index"
MAX_SEARCH_TERMS = 16  # later words are ignored: keeps hostile input cheap


class HistoryError(QwenTuiError):
    """The conversation history database cannot be used."""


class SchemaTooNewError(HistoryError):
    """The database was written by a newer qwen-tui."""


Migration = Callable[[sqlite3.Connection], None]


def trigram_available() -> bool:
    """True if this sqlite has FTS5 with the ``trigram`` tokenizer (3.34+)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def _migration_1(conn: sqlite3.Connection) -> None:
    """Conversations, messages, and one FTS5 index over titles and messages.

    The index is a standalone FTS5 table: message rows use rowid = message id,
    title rows use rowid = -conversation id, so triggers find rows by rowid.
    Tokenizer: ``trigram`` (substring match, works for Chinese) when this
    sqlite has it, else ``unicode61`` (word-prefix match); see search_filter.
    """
    tokenizer = "trigram" if trigram_available() else "unicode61"
    statements = [
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            system_prompt TEXT,
            params TEXT,
            model TEXT)""",
        "CREATE INDEX conversations_by_update ON conversations(updated_at)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'complete'
                CHECK (state IN ('complete', 'streaming', 'stopped', 'error')),
            stats TEXT,
            created_at REAL NOT NULL)""",
        "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
        "CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming'",
        f"""CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(
            text, conversation_id UNINDEXED, tokenize='{tokenizer}')""",
        f"""CREATE TRIGGER conversations_ai AFTER INSERT ON conversations BEGIN
            INSERT INTO {SEARCH_TABLE}(rowid, text, conversation_id)
            VALUES (-new.id, new.title, new.id);
        END""",
        f"""CREATE TRIGGER conversations_au AFTER UPDATE OF title ON conversations
            WHEN new.title IS NOT old.title BEGIN
            UPDATE {SEARCH_TABLE} SET text = new.title WHERE rowid = -old.id;
        END""",
        f"""CREATE TRIGGER conversations_ad AFTER DELETE ON conversations BEGIN
            DELETE FROM {SEARCH_TABLE} WHERE rowid = -old.id;
        END""",
        f"""CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
            INSERT INTO {SEARCH_TABLE}(rowid, text, conversation_id)
            VALUES (new.id, new.content, new.conversation_id);
        END""",
        f"""CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages
            WHEN new.content IS NOT old.content BEGIN
            UPDATE {SEARCH_TABLE} SET text = new.content WHERE rowid = old.id;
        END""",
        f"""CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            DELETE FROM {SEARCH_TABLE} WHERE rowid = old.id;
        END""",
    ]
    for statement in statements:
        conn.execute(statement)


MIGRATIONS: list[Migration] = [_migration_1]
LATEST_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations in one transaction; return the final version."""
    conn.execute("BEGIN IMMEDIATE")  # re-read the version under the write lock
    try:
        version = user_version(conn)
        if version > LATEST_VERSION:
            raise SchemaTooNewError(
                f"The conversation history has schema version {version}, "
                f"but this qwen-tui only knows up to version {LATEST_VERSION}.",
                "Upgrade qwen-tui, or point QWEN_TUI_DATA_DIR at another directory.",
            )
        for number in range(version + 1, LATEST_VERSION + 1):
            MIGRATIONS[number - 1](conn)
            conn.execute(f"PRAGMA user_version = {number:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return LATEST_VERSION


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database at ``path``.

    The connection is in autocommit mode (``isolation_level=None``): callers
    open explicit transactions, and a lone UPDATE commits by itself.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=10.0, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise HistoryError(
            f"Cannot open the conversation history at {path}: {exc}.",
            "Move the file aside to start a fresh history.",
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def search_tokenizer(conn: sqlite3.Connection) -> str:
    """The tokenizer the search index was created with: trigram or unicode61."""
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = ?", (SEARCH_TABLE,)
    ).fetchone()
    return "trigram" if row and "trigram" in row[0] else "unicode61"


def _fts_phrase(term: str) -> str:
    """A quoted FTS5 string: operators, keywords and punctuation lose all meaning."""
    return '"' + term.replace('"', '""') + '"'


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_filter(query: str | None, tokenizer: str) -> tuple[str, list[str]]:
    """SQL condition on ``conversations AS c`` (and its parameters) for a query.

    Words are ANDed per conversation: each word must appear in the title or
    in some message, not necessarily the same one. Per word:

    - trigram: words of 3+ characters are a quoted FTS5 substring match
      (which covers search-as-you-type prefixes, any case, and Chinese).
      Trigram cannot match 1-2 characters, so those use LIKE on the base
      tables (a scan); this is how "北京" finds "我住在北京市".
    - unicode61: a quoted prefix query ``"word"*``. unicode61 keeps a run of
      Chinese characters as one token, so non-ASCII words also try LIKE.

    Returns ``("", [])`` for an empty or whitespace-only query.
    """
    terms = (query or "").split()[:MAX_SEARCH_TERMS]
    fts = (
        f"c.id IN (SELECT conversation_id FROM {SEARCH_TABLE} "
        f"WHERE {SEARCH_TABLE} MATCH ?)"
    )
    like = (
        "(c.title LIKE ? ESCAPE '\\' OR c.id IN (SELECT conversation_id "
        "FROM messages WHERE content LIKE ? ESCAPE '\\'))"
    )
    clauses: list[str] = []
    params: list[str] = []
    for term in terms:
        if tokenizer == "trigram":
            if len(term) >= 3:
                clauses.append(fts)
                params.append(_fts_phrase(term))
            else:
                clauses.append(like)
                params += [_like_pattern(term)] * 2
        elif term.isascii():
            clauses.append(fts)
            params.append(_fts_phrase(term) + "*")
        else:
            clauses.append(f"({fts} OR {like})")
            params += [_fts_phrase(term) + "*"] + [_like_pattern(term)] * 2
    return " AND ".join(clauses), params
