"""SQLite layer of the history: connection, migrations (the fourth in ``schema.py``), JSON
columns. The search is ``search.py``.

Schema version lives in ``PRAGMA user_version``; ``MIGRATIONS[i]`` moves a
database from version ``i`` to ``i + 1``. Pending migrations run in order in
one ``BEGIN IMMEDIATE`` transaction, so a half-migrated file never exists.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qwen_tui import paths
from qwen_tui.errors import QwenTuiError
from qwen_tui.history.schema import SEARCH_TABLE, tools_and_attachments
from qwen_tui.history.search import search_tokenizer


class HistoryError(QwenTuiError):
    """The conversation history database cannot be used."""


class SchemaTooNewError(HistoryError):
    """The database was written by a newer qwen-tui."""


class HistoryDamaged(HistoryError):
    """A page of the database file cannot be read (a disk error, a copy cut short)."""


def damaged(path: Path, exc: sqlite3.DatabaseError) -> HistoryDamaged:
    return HistoryDamaged(
        f"The conversation history at {path} is damaged ({exc}).",
        "Run `qwen-tui doctor --repair`: it saves what can be read into a new file and keeps "
        "the old one.",
    )


@contextmanager
def _reported(path: Path) -> Iterator[None]:
    """sqlite's errors about the file as one typed sentence (a locked file is not damage)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise HistoryError(
                f"The conversation history at {path} is busy ({exc}).",
                "Another program holds it; try again in a moment.",
            ) from exc
        if "readonly" in str(exc):
            raise HistoryError(
                "This window is read-only: another qwen-tui owns the history.",
                "Write in that window, or close it and start again.",
            ) from exc
        raise damaged(path, exc) from exc
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
        raise  # our own mistake (a closed connection, a bad parameter), not the file's
    except sqlite3.DatabaseError as exc:
        raise damaged(path, exc) from exc


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


def _migration_2(conn: sqlite3.Connection) -> None:
    """A reply's generated token ids (a JSON list), so the next prompt feeds them back."""
    conn.execute("ALTER TABLE messages ADD COLUMN token_ids TEXT")


def _migration_3(conn: sqlite3.Connection) -> None:
    """A reply's thinking (a Qwen3 <think> block), kept apart from its answer."""
    conn.execute("ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''")


_migration_4 = tools_and_attachments  # tool calls and results, attached files (schema.py)

MIGRATIONS: list[Migration] = [_migration_1, _migration_2, _migration_3, _migration_4]
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


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database at ``path``; ``read_only`` opens
    an existing one that this connection will never write (another window owns it).

    The connection is in autocommit mode (``isolation_level=None``): callers
    open explicit transactions, and a lone UPDATE commits by itself.
    """
    if not read_only and str(path) != ":memory:":  # the chats are the user's alone
        paths.private_dir(path.parent)
        try:
            paths.private_file(path)  # SQLite gives its -wal and -shm files the same mode
        except OSError:
            pass  # cannot be created: SQLite's open below says why, as one sentence
    target: Any = f"file:{path}?mode=ro" if read_only else path
    try:
        conn = sqlite3.connect(
            target, timeout=10.0, isolation_level=None, check_same_thread=False, uri=read_only
        )
    except sqlite3.DatabaseError as exc:  # the file cannot be opened, or made
        raise HistoryError(
            f"Cannot open the conversation history at {path}: {exc}.",
            "Check that its folder can be written, or point QWEN_TUI_DATA_DIR at another one.",
        ) from exc
    try:
        if read_only:
            if user_version(conn) > LATEST_VERSION:
                raise SchemaTooNewError(
                    f"The conversation history has schema version {user_version(conn)}, "
                    f"but this qwen-tui only knows up to version {LATEST_VERSION}.",
                    "Upgrade qwen-tui, or point QWEN_TUI_DATA_DIR at another directory.",
                )
            return conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise HistoryError(
            f"Cannot open the conversation history at {path}: {exc}.",
            "Run `qwen-tui doctor --repair` to save what can be read into a new file, or move "
            "the file aside to start a fresh history.",
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


class Database:
    """One connection shared by the UI and generation threads, guarded by an RLock.

    Hold ``lock`` around several calls that must see one consistent state.
    """

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.lock = threading.RLock()
        self.path = path
        self.read_only = read_only
        self.conn = connect(path, read_only)
        try:
            with _reported(path):
                if not read_only:
                    # A crash mid-reply leaves 'streaming' rows: keep their text, mark them
                    # stopped (never done by a read-only window: they may be another's live
                    # reply)
                    self.conn.execute(
                        "UPDATE messages SET state = 'stopped' WHERE state = 'streaming'"
                    )
                self.tokenizer = search_tokenizer(self.conn)  # "trigram" | "unicode61"
                row = self.conn.execute("SELECT max(updated_at) FROM conversations").fetchone()
                self._last_time: float = row[0] or 0.0
        except BaseException:
            self.conn.close()
            raise

    def now(self) -> float:
        """Wall-clock seconds, strictly increasing per database (stable ordering)."""
        with self.lock:
            self._last_time = max(time.time(), self._last_time + 1e-6)
            return self._last_time

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """One statement; outside ``transaction()`` it commits by itself."""
        with self.lock, _reported(self.path):
            return self.conn.execute(sql, params)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock, _reported(self.path):
            return self.conn.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back on any exception."""
        with self.lock, _reported(self.path):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.DatabaseError:
                        pass  # the error being raised says more than this one
                raise

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def to_json(value: dict[str, Any] | None, what: str) -> str | None:
    """Encode a JSON column; ``ValueError`` if it is not a JSON-serializable dict."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict, not {type(value).__name__}.")
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serializable: {exc}.") from exc


def from_json(text: str | None) -> Any:
    """A JSON column's value; None when it is empty or not JSON (a damaged row)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
