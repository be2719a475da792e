"""Files and tool use in the history (schema 4): stored with their message, read back checked,
found by search (a file's name), exported and imported whole, kept by ``doctor --repair``;
a schema-3 file migrates without losing a row, an id or a search hit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qwen_tui.engine.types import Attachment, ChatMessage, ToolCall
from qwen_tui.history import LATEST_VERSION, ConversationStore, db
from qwen_tui.history.repair import repair
from qwen_tui.history.schema import V3_COLUMNS

NOTES = Attachment("notes/plan.md", "# Plan\n\n```sh\nmake\n```\n")
DATA = Attachment("data.csv", "a,b\n1,2\n")
CALL = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
OTHER = ToolCall("call_2", "add", '{"a": 1, "b": 2}')


@pytest.fixture
def store(tmp_path: Path):
    s = ConversationStore(tmp_path / "conversations.db")
    yield s
    s.close()


def tool_chat(store: ConversationStore) -> int:
    """A user message with two files, a reply that calls two tools (one on an MCP server),
    their results, and the answer."""
    cid = store.create().id
    store.add_message(cid, "user", "Weather for the plan?", attachments=(NOTES, DATA))
    reply = store.add_message(cid, "assistant", "", state="streaming")
    store.update_message(
        reply.id,
        content="Let me look.",
        state="complete",
        stats={"finish_reason": "tool_calls"},
        tool_calls=(CALL, OTHER),
        tool_servers={"call_1": "weather-server"},
    )
    store.add_message(cid, "tool", "18 °C, sunny", tool_call_id="call_1", tool_name="get_weather")
    store.add_message(cid, "tool", "3", tool_call_id="call_2", tool_name="add")
    store.add_message(cid, "assistant", "It is sunny: go.")
    return cid


def test_files_calls_and_results_are_stored_with_their_messages(store, tmp_path) -> None:
    cid = tool_chat(store)
    store.close()
    reopened = ConversationStore(tmp_path / "conversations.db")
    user, reply, weather, total, answer = reopened.messages(cid)
    assert user.attachments == (NOTES, DATA) and user.content == "Weather for the plan?"
    assert reply.tool_calls == (CALL, OTHER) and reply.tool_servers == {"call_1": "weather-server"}
    assert reply.stats == {"finish_reason": "tool_calls"}  # a finish reason the read keeps
    assert (weather.role, weather.tool_call_id, weather.tool_name) == (
        "tool",
        "call_1",
        "get_weather",
    )
    assert (total.tool_call_id, total.tool_name, answer.tool_calls) == ("call_2", "add", ())
    assert user.chat_message() == ChatMessage(
        "user", "Weather for the plan?", attachments=(NOTES, DATA)
    )
    assert weather.chat_message() == ChatMessage(
        "tool", "18 °C, sunny", tool_call_id="call_1", name="get_weather"
    )
    assert reply.chat_message().tool_calls == (CALL, OTHER)
    reopened.close()


def test_what_add_message_returns_is_what_a_read_gives(store) -> None:
    cid = store.create().id
    added = store.add_message(
        cid,
        "assistant",
        "x",
        tool_calls=(CALL, OTHER),
        tool_servers={"call_2": "calc", "call_9": "nowhere", "call_1": ""},
    )
    assert added == store.messages(cid)[0]
    assert added.tool_servers == {"call_2": "calc"}  # only a server of a call it makes


def test_a_first_message_of_files_alone_titles_the_chat_by_the_first_name(store) -> None:
    cid = store.create().id
    store.add_message(cid, "user", "", attachments=(NOTES, DATA))
    assert store.get(cid).title == "notes/plan.md"


def test_search_finds_a_file_by_its_name_not_by_its_text(store, monkeypatch, tmp_path) -> None:
    for tokenizer in ("trigram", "unicode61"):
        if tokenizer == "unicode61":
            monkeypatch.setattr(db, "trigram_available", lambda: False)
        elif not db.trigram_available():
            continue
        s = ConversationStore(tmp_path / f"{tokenizer}.db")
        assert s.search_tokenizer == tokenizer
        cid = s.create("Chat").id
        s.add_message(cid, "user", "see attached", attachments=(NOTES, Attachment("计划.md", "x")))
        other = s.create("Other").id
        s.add_message(other, "user", "nothing here")
        for query in ("plan", "plan.md", "计划", "notes/plan"):  # "计划": 2 characters, LIKE
            assert [c.id for c in s.list(query)] == [cid], (tokenizer, query)
        assert s.list("make") == []  # the file's text is not indexed
        s.close()


def make_schema_3(path: Path) -> None:
    """A file as qwen-tui wrote it before schema 4: two chats, replies with thinking and ids,
    the newest message deleted (its id must not be given again)."""
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA foreign_keys=ON")
    for migration in db.MIGRATIONS[:3]:
        migration(raw)
    raw.execute("PRAGMA user_version = 3")
    for title in ("Pancakes", "Trains"):
        raw.execute(
            "INSERT INTO conversations (title, created_at, updated_at, params) VALUES (?, 1, 1, ?)",
            (title, '{"temperature": 0.5}'),
        )
    rows = [
        (1, "system", "Be brief.", "complete", None, None, ""),
        (1, "user", "How do I make pancakes?", "complete", None, None, ""),
        (
            1,
            "assistant",
            "Flour, eggs, milk.",
            "complete",
            '{"generated_tokens": 5}',
            "[1, 2]",
            "hm",
        ),
        (2, "user", "Fastest train?", "complete", None, None, ""),
        (2, "assistant", "The Shinkansen", "stopped", None, None, "Japan?"),
        (2, "user", "deleted later", "complete", None, None, ""),
    ]
    raw.executemany(
        "INSERT INTO messages (conversation_id, role, content, state, stats, token_ids,"
        " reasoning, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 2.0)",
        rows,
    )
    raw.execute("DELETE FROM messages WHERE id = 6")
    raw.commit()
    raw.close()


def test_a_schema_3_database_migrates_and_loses_nothing(tmp_path) -> None:
    path = tmp_path / "old.db"
    make_schema_3(path)
    raw = sqlite3.connect(path)
    before = raw.execute("SELECT * FROM messages ORDER BY id").fetchall()
    conversations = raw.execute("SELECT * FROM conversations ORDER BY id").fetchall()
    raw.close()
    store = ConversationStore(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,) == (4,)
    after = raw.execute(f"SELECT {V3_COLUMNS} FROM messages ORDER BY id").fetchall()
    assert after == before and len(after) == 5
    assert raw.execute("SELECT * FROM conversations ORDER BY id").fetchall() == conversations
    assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    raw.close()
    # search still finds the old messages, and follows an edit of one
    assert [c.title for c in store.list("pancakes")] == ["Pancakes"]
    assert [c.title for c in store.list("shinkansen")] == ["Trains"]
    store.update_message(5, content="The Maglev")
    assert store.list("shinkansen") == [] and [c.title for c in store.list("maglev")] == ["Trains"]
    [_, _, reply] = store.messages(1)
    assert (reply.token_ids, reply.reasoning, reply.attachments) == ((1, 2), "hm", ())
    # the deleted message's id is not given again; the new columns and role work
    added = store.add_message(2, "tool", "42", tool_call_id="call_1", tool_name="answer")
    assert added.id == 7
    store.add_message(2, "user", "and this", attachments=(DATA,))
    assert [c.title for c in store.list("data.csv")] == ["Trains"]
    store.delete(2)  # the cascade and the search triggers of the new table
    assert store.list("data.csv") == [] and [c.title for c in store.list()] == ["Pancakes"]
    store.close()


def test_json_export_carries_everything_and_imports_back_the_same(store) -> None:
    cid = tool_chat(store)
    exported = store.export_json(cid)
    assert exported["version"] == 2  # an older qwen-tui refuses it rather than lose the files
    user, reply, weather = exported["messages"][:3]
    assert user["attachments"] == [
        {"name": "notes/plan.md", "text": NOTES.text},
        {"name": "data.csv", "text": DATA.text},
    ]
    assert reply["tool_calls"] == [
        {
            "id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
            "server": "weather-server",
        },
        {"id": "call_2", "name": "add", "arguments": '{"a": 1, "b": 2}'},
    ]
    assert (weather["tool_call_id"], weather["name"]) == ("call_1", "get_weather")
    assert "tool_calls" not in user and "attachments" not in reply
    imported = store.import_json(json.loads(json.dumps(exported)))
    assert imported.dropped == []
    assert store.export_json(imported.conversation.id) == exported
    old, new = store.messages(cid), store.messages(imported.conversation.id)
    fields = ("role", "content", "attachments", "tool_calls", "tool_servers", "tool_call_id")
    for before, after in zip(old, new, strict=True):
        for field in (*fields, "tool_name"):
            assert getattr(after, field) == getattr(before, field), field


def test_an_export_without_files_or_tools_stays_version_1(store) -> None:
    cid = store.create().id
    store.add_message(cid, "user", "hi")
    assert store.export_json(cid)["version"] == 1


BASE = {"format": "qwen-tui-conversation", "version": 2, "title": "t"}
CALL_D = {"id": "d", "name": "g", "arguments": "{}"}
WRONG = [  # (what a message of the export holds, the sentence after "message 1 ")
    ({"attachments": "x"}, "attachments must be a list, not 'x'"),
    ({"attachments": [{"name": "a"}]}, "attachments: file 1's text must be a string, not None"),
    ({"attachments": [{"name": " ", "text": "t"}]}, "attachments: file 1's name must not be empty"),
    ({"attachments": [5]}, "attachments: file 1 must be an object, not 5"),
    (
        {"tool_calls": [{"id": "c", "name": "f", "arguments": {}}]},
        "tool_calls: call 1's arguments must be a string, not {}",
    ),
    (
        {"tool_calls": [{**CALL_D, "server": 3}]},
        "tool_calls: call 1's server must be a string, not 3",
    ),
    (
        {"tool_calls": [{"id": "c", "name": "f"}, CALL_D]},
        "tool_calls: call 1's arguments must be a string, not None",
    ),
    ({"tool_call_id": 7}, "tool_call_id must be a string, not 7"),
    ({"name": ["f"]}, "name must be a string, not ['f']"),
]


@pytest.mark.parametrize(("message", "dropped"), WRONG)
def test_an_import_leaves_out_each_wrong_file_or_call_and_says_so(store, message, dropped) -> None:
    good = {"name": "ok.txt", "text": "fine"}
    data = {**BASE, "messages": [{"role": "user", "content": "x", **message}]}
    if "attachments" in message and isinstance(message["attachments"], list):
        data["messages"][0]["attachments"] = [*message["attachments"], good]
    imported = store.import_json(data)
    assert imported.dropped == [f"message 1 {dropped}; dropped."]
    [m] = store.messages(imported.conversation.id)
    assert m.content == "x" and (m.tool_call_id, m.tool_name) == ("", "")
    if len(message.get("tool_calls", ())) == 2:  # the right call is kept
        assert m.tool_calls == (ToolCall("d", "g", "{}"),)
    else:
        assert m.tool_calls == ()
    files = message.get("attachments")  # the right file after a wrong one is kept
    assert m.attachments == ((Attachment("ok.txt", "fine"),) if isinstance(files, list) else ())


def test_wrong_values_in_the_file_are_read_as_none_never_raised(store) -> None:
    cid = store.create().id
    store.add_message(cid, "user", "x", attachments=(DATA,))
    raw = sqlite3.connect(store.path)
    raw.execute(
        "UPDATE messages SET attachments = ?, tool_calls = ?, tool_call_id = ?, tool_name = ?",
        ('[{"name": "kept.txt", "text": "t"}, {"name": 1}, "junk"]', "{not json", b"\x01", b"\xff"),
    )
    raw.commit()
    raw.close()
    [m] = store.messages(cid)
    assert m.attachments == (Attachment("kept.txt", "t"),)
    assert (m.tool_calls, m.tool_servers, m.tool_call_id, m.tool_name) == ((), {}, "", "")
    assert [c.id for c in store.list("kept.txt")] == [cid]  # search and edits still work
    store.update_message(m.id, content="y")
    assert [c.id for c in store.list("kept")] == [cid]


def test_markdown_export_fences_files_and_shows_calls_and_results(store, monkeypatch) -> None:
    from qwen_tui.history import export

    monkeypatch.setattr(export, "_when", lambda t: "WHEN")
    cid = tool_chat(store)
    text = store.export_markdown(cid)
    # the file holds ``` : its fence is longer, so its text cannot end the block
    assert (
        "## You · WHEN\n\nWeather for the plan?\n\n"
        "`notes/plan.md`:\n````\n# Plan\n\n```sh\nmake\n```\n````\n\n"
        "`data.csv`:\n```\na,b\n1,2\n```\n\n"
    ) in text
    assert (
        "## Assistant · WHEN\n\nLet me look.\n\n"
        '**Tool call** `get_weather` on `weather-server`\n\n```json\n{"city": "Paris"}\n```\n\n'
        '**Tool call** `add`\n\n```json\n{"a": 1, "b": 2}\n```\n\n'
    ) in text
    assert "## Tool · WHEN\n\n`result of get_weather`:\n```\n18 °C, sunny\n```\n\n" in text


def test_repair_keeps_files_and_tool_use_and_reads_a_schema_3_file(tmp_path) -> None:
    path = tmp_path / "conversations.db"
    store = ConversationStore(path)
    cid = tool_chat(store)
    before = store.messages(cid)
    store.close()
    done = repair(path)
    assert (done.messages, done.lost) == (5, 0)
    store = ConversationStore(path)
    assert store.messages(cid) == before
    assert [c.id for c in store.list("data.csv")] == [cid]  # the index is rebuilt with names
    store.close()
    old = tmp_path / "old.db"
    make_schema_3(old)
    done = repair(old)
    assert (done.messages, done.lost) == (5, 0)
    store = ConversationStore(old)
    assert [m.content for m in store.messages(2)] == ["Fastest train?", "The Shinkansen"]
    store.close()
