"""Full-text search of the history: which tokenizer the index was built with, and the SQL
condition a query becomes (see ``search_filter``)."""

from __future__ import annotations

import sqlite3

from qwen_tui.history.schema import SEARCH_TABLE, attachment_names

MAX_SEARCH_TERMS = 16  # later words are ignored: keeps hostile input cheap


def search_tokenizer(conn: sqlite3.Connection) -> str:
    """The tokenizer the search index was created with: trigram or unicode61."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (SEARCH_TABLE,)).fetchone()
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
    in some message (its text or the name of a file sent with it), not necessarily the same
    one. Per word:

    - trigram: words of 3+ characters are a quoted FTS5 substring match
      (which covers search-as-you-type prefixes, any case, and Chinese).
      Trigram cannot match 1-2 characters, so those use LIKE on the base
      tables (a scan); this is how "北京" finds "我住在北京市".
    - unicode61: a quoted prefix query ``"word"*``. unicode61 keeps a run of
      Chinese characters as one token, so non-ASCII words also try LIKE.

    Returns ``("", [])`` for an empty or whitespace-only query.
    """
    terms = (query or "").replace("\0", " ").split()[:MAX_SEARCH_TERMS]  # NUL ends LIKE patterns
    fts = f"c.id IN (SELECT conversation_id FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH ?)"
    like = (
        "(c.title LIKE ? ESCAPE '\\' OR c.id IN (SELECT conversation_id FROM messages"
        f" WHERE content LIKE ? ESCAPE '\\' OR {attachment_names('attachments')} LIKE ?"
        " ESCAPE '\\'))"
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
                params += [_like_pattern(term)] * 3
        elif term.isascii():
            clauses.append(fts)
            params.append(_fts_phrase(term) + "*")
        else:
            clauses.append(f"({fts} OR {like})")
            params += [_fts_phrase(term) + "*"] + [_like_pattern(term)] * 3
    return " AND ".join(clauses), params
