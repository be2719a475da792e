"""A reply's thinking in the history: its own column (older files gain it), saved apart
from the answer, exported apart (JSON ``reasoning``, a quoted Markdown block), imported back,
and kept by ``doctor --repair``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qwen_tui.history import LATEST_VERSION, ConversationStore, db
from qwen_tui.history.repair import repair

THOUGHT = "The user asks for 2+2.\n\nI add them: 4."


@pytest.fixture
def store(tmp_path: Path):
    s = ConversationStore(tmp_path / "conversations.db")
    yield s
    s.close()


def thinking_chat(store: ConversationStore) -> int:
    cid = store.create("Sums").id
    store.add_message(cid, "user", "What is 2+2?")
    store.add_message(cid, "assistant", "It is 4.", reasoning=THOUGHT, stats={"x": 1})
    store.add_message(cid, "user", "And 3+3?")
    store.add_message(cid, "assistant", "", state="stopped", reasoning="Three and thr")
    return cid


def test_thinking_is_stored_apart_and_updated_as_it_streams(store) -> None:
    cid = store.create().id
    reply = store.add_message(cid, "assistant", "", state="streaming")
    assert reply.reasoning == "" and store.messages(cid)[0].reasoning == ""
    store.update_message(reply.id, reasoning="I think")
    store.update_message(reply.id, content="Yes.", reasoning="I think so.")
    store.update_message(reply.id, state="complete")  # the others stay as they were
    [saved] = store.messages(cid)
    assert (saved.content, saved.reasoning, saved.state) == ("Yes.", "I think so.", "complete")
    # search looks at answers, not at thinking
    assert [c.id for c in store.list("Yes")] == [cid] and store.list("think") == []


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_gains_the_column_and_keeps_its_messages(tmp_path, version) -> None:
    path = tmp_path / "h.db"
    raw = sqlite3.connect(path)
    for migration in db.MIGRATIONS[:version]:
        migration(raw)
    raw.execute(f"PRAGMA user_version = {version}")
    raw.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('Old', 1, 1)")
    raw.execute(
        "INSERT INTO messages (conversation_id, role, content, created_at)"
        " VALUES (1, 'assistant', 'Hi there', 1.0)"
    )
    raw.commit()
    raw.close()
    store = ConversationStore(path)
    [old] = store.messages(1)
    assert (old.content, old.reasoning) == ("Hi there", "")
    store.update_message(old.id, reasoning="hm")
    assert store.messages(1)[0].reasoning == "hm"
    store.close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,) == (4,)
    raw.close()


def test_json_export_carries_thinking_apart_and_imports_it_back(store) -> None:
    cid = thinking_chat(store)
    exported = store.export_json(cid)
    first, second = exported["messages"][1], exported["messages"][3]
    assert (first["reasoning"], first["content"]) == (THOUGHT, "It is 4.")
    assert (second["reasoning"], second["content"], second["state"]) == (
        "Three and thr",
        "",
        "stopped",
    )
    assert "reasoning" not in exported["messages"][0]  # only where there was thinking
    imported = store.import_json(json.loads(json.dumps(exported))).conversation
    assert [m.reasoning for m in store.messages(imported.id)] == ["", THOUGHT, "", "Three and thr"]
    assert store.export_json(imported.id) == exported


def test_import_refuses_reasoning_that_is_not_text(store) -> None:
    base = {"format": "qwen-tui-conversation", "version": 1, "title": "t"}
    bad = [
        {"role": "assistant", "content": "x", "reasoning": 5},
        {"role": "assistant", "content": "x", "reasoning": json.loads('"\\udcff"')},
    ]
    for message in bad:
        with pytest.raises(ValueError, match=r"^This is not a valid .*message 1 .*\.$"):
            store.import_json({**base, "messages": [message]})
    assert store.list() == []
    ok = store.import_json({**base, "messages": [{"role": "assistant", "content": "x"}]})
    assert store.messages(ok.conversation.id)[0].reasoning == ""  # an export from before thinking


def test_markdown_export_quotes_thinking_before_the_answer(store, monkeypatch) -> None:
    from qwen_tui.history import export

    monkeypatch.setattr(export, "_when", lambda t: "WHEN")
    cid = thinking_chat(store)
    assert store.export_markdown(cid) == (
        "# Sums\n\n_Started WHEN_\n\n"
        "## You · WHEN\n\nWhat is 2+2?\n\n"
        "## Assistant · WHEN\n\n"
        "> **Thinking**\n>\n> The user asks for 2+2.\n>\n> I add them: 4.\n\nIt is 4.\n\n"
        "## You · WHEN\n\nAnd 3+3?\n\n"
        "## Assistant · WHEN\n\n> **Thinking**\n>\n> Three and thr\n\n_(stopped while thinking)_\n"
    )


def test_repair_keeps_thinking_and_reads_a_file_from_before_it(tmp_path) -> None:
    path = tmp_path / "conversations.db"
    store = ConversationStore(path)
    cid = thinking_chat(store)
    store.close()
    repair(path)
    store = ConversationStore(path)
    assert [m.reasoning for m in store.messages(cid)] == ["", THOUGHT, "", "Three and thr"]
    store.close()
    # a schema-2 file (no reasoning column) repaired: its messages come through
    old = tmp_path / "old.db"
    raw = sqlite3.connect(old)
    for migration in db.MIGRATIONS[:2]:
        migration(raw)
    raw.execute("PRAGMA user_version = 2")
    raw.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES ('Old', 1, 1)")
    raw.execute(
        "INSERT INTO messages (conversation_id, role, content, created_at, token_ids)"
        " VALUES (1, 'assistant', 'Hi', 1.0, '[1, 2]')"
    )
    raw.commit()
    raw.close()
    done = repair(old)
    assert (done.messages, done.lost) == (1, 0)
    store = ConversationStore(old)
    [m] = store.messages(1)
    assert (m.content, m.token_ids, m.reasoning) == ("Hi", (1, 2), "")
    store.close()
