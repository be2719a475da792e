"""Conversation history: storage, search, crash recovery, export/import, migrations."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qwen_tui.errors import QwenTuiError
from qwen_tui.history import (
    LATEST_VERSION,
    ConversationStore,
    HistoryError,
    SchemaTooNewError,
    db,
)


@pytest.fixture
def store(tmp_path: Path):
    s = ConversationStore(tmp_path / "data" / "conversations.db")
    yield s
    s.close()


@pytest.fixture(params=["trigram", "unicode61"])
def search_store(request, tmp_path: Path, monkeypatch):
    """A store per FTS tokenizer: trigram when this sqlite has it, and the unicode61 fallback."""
    if request.param == "trigram" and not db.trigram_available():
        pytest.skip("this sqlite has no trigram tokenizer")
    if request.param == "unicode61":
        monkeypatch.setattr(db, "trigram_available", lambda: False)
    s = ConversationStore(tmp_path / "search.db")
    assert s.search_tokenizer == request.param
    yield s
    s.close()


def ids(conversations) -> list[int]:
    return [c.id for c in conversations]


def test_create_get_and_list_most_recent_first(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "a" / "b" / "h.db")  # parent dirs are created
    a, b, c = store.create(), store.create(title="Second"), store.create(model="qwen2-1.5b")
    assert a.title == "New chat" and a.params == {} and a.system_prompt is None
    assert store.get(c.id).model == "qwen2-1.5b"
    assert ids(store.list()) == [c.id, b.id, a.id]
    store.add_message(a.id, "user", "hi")
    assert ids(store.list()) == [a.id, c.id, b.id]
    store.rename(b.id, "Renamed")
    assert ids(store.list()) == [b.id, a.id, c.id]
    assert ids(store.list(limit=2)) == [b.id, a.id]
    with pytest.raises(KeyError):
        store.get(9999)
    store.close()


def test_setters_persist_and_bump_updated_at(store: ConversationStore) -> None:
    conv = store.create()
    before = conv.updated_at
    store.set_system_prompt(conv.id, "Be brief.")
    store.set_params(conv.id, {"temperature": 0.2, "max_new_tokens": 256})
    store.set_model(conv.id, "qwen2-7b")
    got = store.get(conv.id)
    assert (got.system_prompt, got.params, got.model) == (
        "Be brief.",
        {"temperature": 0.2, "max_new_tokens": 256},
        "qwen2-7b",
    )
    assert got.updated_at > before and got.created_at == conv.created_at
    store.set_system_prompt(conv.id, None)
    store.set_model(conv.id, None)
    assert store.get(conv.id).system_prompt is None and store.get(conv.id).model is None
    for setter, value in [(store.rename, "x"), (store.set_model, "m"), (store.set_params, {})]:
        with pytest.raises(KeyError):
            setter(424242, value)
    with pytest.raises(ValueError):
        store.set_params(conv.id, {"bad": object()})


def test_delete_cascades_to_messages_and_search(store: ConversationStore) -> None:
    keep, gone = store.create(title="Keep"), store.create(title="Gone")
    store.add_message(keep.id, "user", "shared words here")
    store.add_message(gone.id, "user", "shared words and zebra")
    store.delete(gone.id)
    with pytest.raises(KeyError):
        store.get(gone.id)
    with pytest.raises(KeyError):
        store.messages(gone.id)
    with pytest.raises(KeyError):
        store.delete(gone.id)
    assert store.list("zebra") == [] and ids(store.list("shared")) == [keep.id]
    raw = sqlite3.connect(store.path)
    assert raw.execute(
        "SELECT count(*) FROM messages WHERE conversation_id = ?", (gone.id,)
    ).fetchone() == (0,)
    raw.close()


def test_title_comes_from_first_user_message(store: ConversationStore) -> None:
    conv = store.create()
    store.add_message(conv.id, "system", "You are helpful.")
    assert store.get(conv.id).title == "New chat"
    store.add_message(conv.id, "user", "\n   \n  How   do\tI  parse JSON?  \nMore details.")
    assert store.get(conv.id).title == "How do I parse JSON?"
    store.add_message(conv.id, "user", "A later question")
    assert store.get(conv.id).title == "How do I parse JSON?"

    long = store.create()
    store.add_message(long.id, "user", "word " * 40)
    title = store.get(long.id).title
    assert len(title) == 60 and title.endswith("…") and title.startswith("word word")

    renamed = store.create()
    store.rename(renamed.id, "  My   own title ")
    store.add_message(renamed.id, "user", "This must not become the title")
    assert store.get(renamed.id).title == "My own title"


def test_search_prefix_as_you_type(search_store: ConversationStore) -> None:
    conv = search_store.create()
    search_store.add_message(conv.id, "user", "Explain Python decorators")
    other = search_store.create(title="Unrelated")
    for typed in ["p", "py", "pyt", "PYTH", "python", "decorat"]:
        assert ids(search_store.list(typed)) == [conv.id], typed
    assert search_store.list("pythx") == []
    assert ids(search_store.list("")) == ids(search_store.list("   \t ")) == [other.id, conv.id]


def test_search_title_message_and_words_anded(search_store: ConversationStore) -> None:
    s = search_store
    trip = s.create(title="Trip planning")
    fruit = s.create()
    s.add_message(fruit.id, "user", "apples and oranges")
    s.add_message(fruit.id, "assistant", "Both are fruit.")
    apples = s.create(title="Apples only")
    week = s.create(title="Weekend")
    s.add_message(week.id, "user", "hiking boots")
    assert ids(s.list("planning")) == [trip.id]
    assert ids(s.list("oranges")) == [fruit.id]
    assert ids(s.list("apples")) == [apples.id, fruit.id]
    assert ids(s.list("apples oranges")) == [fruit.id]
    assert ids(s.list("app ORA")) == [fruit.id]
    assert ids(s.list("oranges fruit")) == [fruit.id]  # words in different messages
    assert ids(s.list("week hik")) == [week.id]  # one word in the title, one in a message
    assert s.list("apples boots") == []


def test_search_follows_edits(search_store: ConversationStore) -> None:
    s = search_store
    conv = s.create(title="Alpha title")
    msg = s.add_message(conv.id, "assistant", "", state="streaming")
    s.update_message(msg.id, content="streamed giraffe")
    assert ids(s.list("giraffe")) == [conv.id]
    s.update_message(msg.id, content="replaced elephant")
    assert s.list("giraffe") == [] and ids(s.list("elephant")) == [conv.id]
    s.rename(conv.id, "Beta heading")
    assert s.list("alpha") == [] and ids(s.list("beta")) == [conv.id]
    s.delete_messages_from(conv.id, msg.id)
    assert s.list("elephant") == []


HOSTILE = [
    '"',
    '""',
    '"unterminated',
    "*",
    "**",
    "(",
    ")",
    "(a",
    "-",
    "-foo",
    ":",
    "col:val",
    "^x",
    "+",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(a b)",
    "{a b}",
    "a AND",
    "OR b",
    "%",
    "_",
    "\\",
    "'",
    "'; DROP TABLE messages; --",
    "a\x00b",
    "🙂",
    "[x]",
    ".*",
    "* * *",
    'a "b" c',
    "NOT NOT",
    "a:b:c",
    "--",
    "::",
    "\\%",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(search_store: ConversationStore, query: str) -> None:
    conv = search_store.create(title="plain title")
    search_store.add_message(conv.id, "user", "simple text here")
    assert search_store.list(query) == []  # none of them occurs in the text
    assert ids(search_store.list()) == [conv.id]  # and the store still works


def test_operator_words_and_symbols_are_literal(search_store: ConversationStore) -> None:
    s = search_store
    words = s.create(title="words")
    s.add_message(words.id, "user", "this and that, not those")
    percent = s.create(title="discount")
    s.add_message(percent.id, "user", "a 100% refund (really)")
    assert ids(s.list("AND")) == [words.id]
    assert ids(s.list("NOT")) == [words.id]
    assert ids(s.list("and that")) == [words.id]
    assert ids(s.list("100%")) == [percent.id]
    if s.search_tokenizer == "trigram":  # unicode61 drops punctuation-only words
        assert ids(s.list("%")) == [percent.id]
        assert ids(s.list("(really)")) == [percent.id]


def test_search_chinese_substring(search_store: ConversationStore) -> None:
    s = search_store
    home = s.create()
    s.add_message(home.id, "user", "我住在北京市")
    trip = s.create(title="上海旅行计划")
    assert ids(s.list("北京")) == [home.id]
    assert ids(s.list("北京市")) == [home.id]
    assert ids(s.list("住在 北京")) == [home.id]
    assert ids(s.list("旅行")) == [trip.id]
    assert s.list("广州") == [] and s.list("北京 旅行") == []


def test_update_message_and_messages_order(store: ConversationStore) -> None:
    conv = store.create()
    u = store.add_message(conv.id, "user", "Hi")
    a = store.add_message(conv.id, "assistant", "", state="streaming")
    assert (a.state, a.stats) == ("streaming", None)
    store.update_message(a.id, content="Hello!", state="complete", stats={"tokens": 3})
    store.update_message(a.id)  # nothing to change
    got = store.messages(conv.id)
    assert [m.id for m in got] == [u.id, a.id]
    assert (got[1].content, got[1].state, got[1].stats) == ("Hello!", "complete", {"tokens": 3})
    with pytest.raises(KeyError):
        store.update_message(987654, content="x")
    with pytest.raises(ValueError):
        store.update_message(a.id, state="done")
    with pytest.raises(ValueError):
        store.add_message(conv.id, "robot", "beep")
    with pytest.raises(KeyError):
        store.add_message(123456, "user", "nobody home")
    assert len(store.messages(conv.id)) == 2  # failed writes left nothing behind


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from qwen_tui.history import ConversationStore
store = ConversationStore(Path(sys.argv[1]))
conv = store.create()
store.add_message(conv.id, "user", "Tell me a story")
reply = store.add_message(conv.id, "assistant", "", state="streaming")
store.update_message(reply.id, content="Once upon")
store.update_message(reply.id, content="Once upon a time", stats={"tokens": 4})
os._exit(1)  # crash: no close, no final state
"""


def test_streaming_reply_survives_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    store = ConversationStore(path)
    [conv] = store.list()
    user, reply = store.messages(conv.id)
    assert (user.content, user.state) == ("Tell me a story", "complete")
    assert (reply.content, reply.state, reply.stats) == (
        "Once upon a time",
        "stopped",
        {"tokens": 4},
    )
    assert ids(store.list("upon a time")) == [conv.id]
    store.close()


def test_delete_messages_from(store: ConversationStore) -> None:
    conv, other = store.create(), store.create()
    m = [
        store.add_message(conv.id, role, f"msg {i}")
        for i, role in enumerate(["user", "assistant", "user", "assistant"])
    ]
    foreign = store.add_message(other.id, "user", "elsewhere")
    store.delete_messages_from(conv.id, m[2].id)
    assert [x.id for x in store.messages(conv.id)] == [m[0].id, m[1].id]
    again = store.add_message(conv.id, "user", "edited")
    assert again.id > m[3].id  # ids are never reused, so stale ids cannot hit new rows
    assert [x.content for x in store.messages(conv.id)] == ["msg 0", "msg 1", "edited"]
    with pytest.raises(KeyError):
        store.delete_messages_from(conv.id, foreign.id)
    assert [x.id for x in store.messages(other.id)] == [foreign.id]


def _sample(store: ConversationStore):
    conv = store.create(
        title="Sample chat",
        system_prompt="Answer in French.",
        params={"temperature": 0.7},
        model="qwen2-1.5b-instruct",
    )
    store.add_message(conv.id, "user", "What is 2+2?")
    store.add_message(conv.id, "assistant", "Quatre.", stats={"tokens": 2, "tps": 9.5})
    store.add_message(conv.id, "user", "And 3+3?")
    store.add_message(conv.id, "assistant", "Si", state="stopped")
    return conv


def test_export_import_json_round_trip(store: ConversationStore) -> None:
    conv = _sample(store)
    exported = store.export_json(conv.id)
    assert exported["format"] == "qwen-tui-conversation" and exported["version"] == 1
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"] * 2
    imported = store.import_json(json.loads(json.dumps(exported))).conversation
    assert imported.id != conv.id
    assert (imported.title, imported.system_prompt, imported.params, imported.model) == (
        "Sample chat",
        "Answer in French.",
        {"temperature": 0.7},
        "qwen2-1.5b-instruct",
    )
    assert store.export_json(imported.id) == exported
    assert store.list()[0].id == imported.id


DROP = object()


def export_with(**changes) -> dict:
    """A minimal valid export with some fields changed (``DROP`` removes one)."""
    data = {
        "format": "qwen-tui-conversation",
        "version": 1,
        "title": "t",
        "messages": [{"role": "user", "content": "x"}],
        **changes,
    }
    return {key: value for key, value in data.items() if value is not DROP}


def test_minimal_export_imports(store: ConversationStore) -> None:
    conv = store.import_json(export_with()).conversation
    assert conv.title == "t" and [m.content for m in store.messages(conv.id)] == ["x"]


BAD_EXPORTS = [
    [],
    "text",
    {},
    export_with(format="other"),
    export_with(format=DROP),
    export_with(version=3),
    export_with(version="1"),
    export_with(version=True),
    export_with(version=DROP),
    export_with(title=DROP),
    export_with(title=3),
    export_with(messages=DROP),
    export_with(messages={}),
    export_with(messages=["x"]),
    export_with(params=[1]),
    export_with(system_prompt=5),
    export_with(model=["m"]),
    export_with(messages=[{"role": "robot", "content": "x"}]),
    export_with(messages=[{"content": "x"}]),
    export_with(messages=[{"role": "user", "content": 5}]),
    export_with(messages=[{"role": "user"}]),
    export_with(messages=[{"role": "user", "content": "x", "state": "weird"}]),
    export_with(messages=[{"role": "user", "content": "x", "stats": [1]}]),
    # what json.loads makes of "\udcff": a lone surrogate, which SQLite cannot store
    export_with(messages=[{"role": "user", "content": json.loads('"bad \\udcff"')}]),
    export_with(title=json.loads('"\\ud800 title"')),
]


@pytest.mark.parametrize("data", BAD_EXPORTS)
def test_import_rejects_bad_data(store: ConversationStore, data) -> None:
    with pytest.raises(ValueError) as info:
        store.import_json(data)
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message and message.count(". ") == 0
    assert store.list() == []


def test_export_markdown(store: ConversationStore, monkeypatch) -> None:
    """Dates, the system prompt, and for each reply the model, format and parameters."""
    from qwen_tui.history import export

    monkeypatch.setattr(export, "_when", lambda t: "WHEN")
    conv = _sample(store)
    store.add_message(
        conv.id,
        "assistant",
        "Six.",
        stats={"model": "coder", "format": "mixed_int5", "params": {"temperature": 0.7},
               "finish_reason": "length"},
    )  # fmt: skip
    assert store.export_markdown(conv.id) == (
        "# Sample chat\n\n_Started WHEN_\n\n## System prompt\n\nAnswer in French.\n\n"
        "## You · WHEN\n\nWhat is 2+2?\n\n## Assistant · WHEN\n\nQuatre.\n\n"
        "## You · WHEN\n\nAnd 3+3?\n\n## Assistant · WHEN\n\nSi\n\n_(stopped)_\n\n"
        "## Assistant · WHEN\n\n_coder (mixed_int5) · temperature 0.7_\n\nSix.\n\n"
        "_(cut at max new tokens)_\n"
    )
    bare = store.create()
    assert store.export_markdown(bare.id) == "# New chat\n\n_Started WHEN_\n"


def test_fresh_database_is_at_latest_version(store: ConversationStore) -> None:
    assert LATEST_VERSION == len(db.MIGRATIONS) >= 1
    raw = sqlite3.connect(store.path)
    assert raw.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def test_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with_data = ConversationStore(path)
    conv = with_data.create(title="Persisted")
    with_data.close()
    reopened = ConversationStore(path)
    assert [c.title for c in reopened.list()] == ["Persisted"] and reopened.get(conv.id)
    reopened.close()


def test_version_1_database_gains_token_ids_and_keeps_its_messages(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    raw = sqlite3.connect(path)
    db._migration_1(raw)
    raw.execute("PRAGMA user_version = 1")
    raw.execute(
        "INSERT INTO conversations (title, created_at, updated_at) VALUES ('Old', 1.0, 1.0)"
    )
    raw.execute(
        "INSERT INTO messages (conversation_id, role, content, created_at)"
        " VALUES (1, 'assistant', 'Hi there', 1.0)"
    )
    raw.commit()
    raw.close()
    store = ConversationStore(path)
    [old] = store.messages(1)
    assert old.content == "Hi there" and old.token_ids is None
    store.update_message(old.id, token_ids=(5, 6, 7))
    assert store.messages(1)[0].token_ids == (5, 6, 7)
    store.close()


def test_damaged_token_ids_read_as_none(store: ConversationStore) -> None:
    conv = store.create()
    message = store.add_message(conv.id, "assistant", "Hello")
    for damaged in ("[1, 2", '{"a": 1}', '[1, "x"]', "[1.5]"):
        store._db.execute("UPDATE messages SET token_ids = ? WHERE id = ?", (damaged, message.id))
        assert store.messages(conv.id)[0].token_ids is None


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    ConversationStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    raw.close()
    with pytest.raises(SchemaTooNewError, match="newer|only knows") as info:
        ConversationStore(path)
    assert isinstance(info.value, QwenTuiError) and info.value.hint


def test_failed_migration_leaves_nothing_half_done(tmp_path: Path, monkeypatch) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, broken])
    monkeypatch.setattr(db, "LATEST_VERSION", len(db.MIGRATIONS))
    path = tmp_path / "h.db"
    with pytest.raises(RuntimeError):
        ConversationStore(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone() == (0,)
    assert raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    raw.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="Cannot open the conversation history"):
        ConversationStore(path)


def test_concurrent_writes_from_two_threads(store: ConversationStore) -> None:
    chat, log = store.create(), store.create()
    reply = store.add_message(chat.id, "assistant", "", state="streaming")
    start, errors = threading.Barrier(2), []

    def ui() -> None:
        start.wait()
        for i in range(100):
            conv = store.create()
            store.add_message(conv.id, "user", f"question {i}")
            store.rename(conv.id, f"chat {i}")
            store.list("question")

    def worker() -> None:
        start.wait()
        for i in range(200):
            store.update_message(reply.id, content="token " * (i + 1))
            store.add_message(log.id, "system", f"tick {i}")
        store.update_message(reply.id, state="complete")

    def run(target) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in (ui, worker)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(store.list()) == 102 and len(store.list("question")) == 100
    assert [m.content for m in store.messages(log.id)] == [f"tick {i}" for i in range(200)]
    final = store.messages(chat.id)[0]
    assert final.state == "complete" and final.content == "token " * 200
