"""Check the history file, and save what can be read of a damaged one into a new file.

``check`` runs sqlite's integrity check and the search index's own. ``repair`` keeps the
damaged file beside the new one (``conversations.db.damaged-<time>``), copies every
conversation and message row that can still be read into a fresh database (row by row, so
one unreadable page loses only the rows on it), rebuilds the search index, and puts the new
file in place.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .db import SEARCH_TABLE, connect
from .records import CONVERSATION_COLUMNS, MESSAGE_COLUMNS

# what a file from before each later column holds in its place (schema 4: files and tool
# use, 3: reasoning, 2: token ids)
LATER_COLUMNS = (
    ("attachments", None),
    ("tool_calls", None),
    ("tool_call_id", ""),
    ("tool_name", ""),
    ("reasoning", ""),
    ("token_ids", None),
)


def check(path: Path) -> list[str]:
    """What is wrong with the file ([] when it is whole)."""
    if not path.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError as exc:
        return [f"it cannot be opened ({exc})"]
    try:
        found = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        problems = [] if found == ["ok"] else found[:5]
        try:
            conn.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES('integrity-check')")
        except sqlite3.DatabaseError as exc:
            if "readonly" not in str(exc):
                problems.append(f"the search index is damaged ({exc})")
        return problems
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()


@dataclass(frozen=True)
class Repaired:
    new: Path
    kept: Path  # the damaged file, as it was
    conversations: int
    messages: int
    lost: int  # rows (or runs of rows) that could not be read


def _rows(conn: sqlite3.Connection, table: str, columns: str) -> tuple[list[tuple], int]:
    """Every readable row, by id: a damaged page costs the rows on it, not the table."""
    out: list[tuple] = []
    lost = 0
    try:
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
    except sqlite3.DatabaseError:
        ids = []
        last = 0
        while True:  # the id index itself is damaged: walk forward as far as rows read
            try:
                row = conn.execute(
                    f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT 1", (last,)
                ).fetchone()
            except sqlite3.DatabaseError:
                lost += 1
                last += 1
                if last > 10_000_000:
                    break
                continue
            if row is None:
                break
            ids.append(row[0])
            last = row[0]
    for row_id in ids:
        try:
            row = conn.execute(f"SELECT {columns} FROM {table} WHERE id = ?", (row_id,)).fetchone()
        except sqlite3.DatabaseError:
            lost += 1
            continue
        if row is not None:
            out.append(row)
    return out, lost


def _messages(conn: sqlite3.Connection) -> tuple[list[tuple], int]:
    """The readable message rows in today's columns; a file from an older schema lacks the
    later ones, which get what its migration would have given them."""
    try:
        present = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
    except sqlite3.DatabaseError:
        present = set()
    missing = dict(LATER_COLUMNS) if present else {}
    missing = {name: empty for name, empty in missing.items() if name not in present}
    wanted = [c.strip() for c in MESSAGE_COLUMNS.split(",")]
    read = [c for c in wanted if c not in missing]
    rows, lost = _rows(conn, "messages", ", ".join(read))
    out = []
    for row in rows:
        values = dict(zip(read, row, strict=True))
        out.append(tuple(values[c] if c in values else missing[c] for c in wanted))
    return out, lost


def _marks(columns: str) -> str:
    """A "?" for each of ``columns`` (names separated by commas)."""
    return ", ".join("?" * len(columns.split(",")))


def repair(path: Path) -> Repaired:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.damaged-{stamp}")
    new = path.with_name(f".{path.name}.repair-{os.getpid()}")
    for extra in (new, Path(f"{new}-wal"), Path(f"{new}-shm")):
        extra.unlink(missing_ok=True)
    old = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conversations, lost_c = _rows(old, "conversations", CONVERSATION_COLUMNS)
        messages, lost_m = _messages(old)
    finally:
        old.close()
    fresh = connect(new)  # the current schema, the search triggers included
    try:
        known = {c[0] for c in conversations}
        fresh.execute("BEGIN IMMEDIATE")
        columns = CONVERSATION_COLUMNS
        fresh.executemany(
            f"INSERT INTO conversations ({columns}) VALUES ({_marks(columns)})", conversations
        )
        kept_messages = [m for m in messages if m[1] in known]
        fresh.executemany(
            f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({_marks(MESSAGE_COLUMNS)})",
            kept_messages,
        )
        fresh.execute("COMMIT")
        fresh.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        fresh.close()
    os.replace(path, kept)
    for suffix in ("-wal", "-shm"):  # the old file's journal belongs with the old file
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{kept}{suffix}"))
    os.replace(new, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{new}{suffix}").unlink(missing_ok=True)
    lost = lost_c + lost_m + (len(messages) - len(kept_messages))
    return Repaired(path, kept, len(conversations), len(kept_messages), lost)
