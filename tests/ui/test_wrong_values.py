"""A chat whose stored ``stats`` or ``params`` hold values of the wrong type (written by an
earlier version, or brought in by an import) opens, shows, exports and has its settings
edited like any other; an import leaves those values out and says which."""

from __future__ import annotations

import json
import sqlite3

from test_actions import SIZE, add_chat, chat, notifications, replies
from textual.widgets import Input

from qwen_tui import paths
from qwen_tui.history import ConversationStore
from qwen_tui.ui.screens.conversation_settings import ConversationSettingsScreen
from qwen_tui.ui.widgets.chat_view import Note

BAD_STATS = {
    "decode_tokens_per_s": "x",
    "generated_tokens": [3],
    "thinking_seconds": "long",
    "dropped_turns": {"a": 1},
    "finish_reason": 5,
    "params": ["temperature"],
}
BAD_PARAMS = {"enable_thinking": "x", "temperature": "hot", "top_k": 2.5, "seed": -1}


def write_bad_rows() -> int:
    """A chat with a reply, then its stats and params overwritten as an old version might
    have left them: wrong types, and a stats column that is not even JSON on a second reply."""
    store = ConversationStore(paths.history_db())
    cid = add_chat(store, "old chat", "hello", "hi there", "again", "once more")
    store.close()
    db = sqlite3.connect(paths.history_db())
    with db:
        db.execute(
            "UPDATE conversations SET params = ? WHERE id = ?", (json.dumps(BAD_PARAMS), cid)
        )
        ids = [row[0] for row in db.execute("SELECT id FROM messages WHERE role = 'assistant'")]
        db.execute("UPDATE messages SET stats = ? WHERE id = ?", (json.dumps(BAD_STATS), ids[0]))
        db.execute("UPDATE messages SET stats = '{not json' WHERE id = ?", (ids[1],))
    db.close()
    return cid


async def test_a_database_holding_wrong_values_opens_and_every_view_of_it_works(
    make_app, tmp_path_factory
):
    from thinking_model import install, quantized

    install(quantized(tmp_path_factory))  # a model with the switch: F3 shows thinking
    cid = write_bad_rows()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        from conftest import wait_ready

        await wait_ready(app, pilot)
        assert app.engine_state == "ready" and app.engine.info.thinking == "switch"
        assert chat(app).conversation_id == cid
        assert [str(r._markdown) for r in replies(app)] == ["hi there", "once more"]
        assert [str(n.render()) for n in app.chat.chat_view.query(Note)] == []
        assert "thinking on" in str(app.chat.status.render())  # "x" is not off
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, ConversationSettingsScreen)
        assert screen.thinking_select is not None and screen.thinking_select.value == 0
        assert screen.query_one("#temperature Input", Input).value == ""  # "hot" dropped
        await pilot.press("escape")
        await pilot.press("f5")  # the export reads the stats too
        await pilot.pause()
        assert chat(app)
        assert notifications(app)[-1].title == "Exported to Markdown and JSON"
    assert app.return_code in (None, 0)


async def test_an_import_leaves_wrong_values_out_and_says_which(make_app, tmp_path):
    export = {
        "format": "qwen-tui-conversation",
        "version": 1,
        "title": "imported chat",
        "params": {"enable_thinking": "x", "top_p": 0.5},
        "messages": [
            {"role": "user", "content": "hello"},
            {
                "role": "assistant",
                "content": "hi",
                "stats": {"decode_tokens_per_s": "x", "generated_tokens": 2},
            },
        ],
    }
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f9")
        app.screen.query_one(Input).value = str(path)
        await pilot.press("enter")
        await pilot.pause()
        assert chat(app)
        note = notifications(app)[-1]
        assert note.severity == "warning"
        assert note.title == "Imported “imported chat”, leaving out 2 wrong values"
        assert "params: enable_thinking must be true or false, not 'x'" in note.message
        assert "message 2 stats: decode_tokens_per_s must be a number" in note.message
        cid = chat(app).conversation_id
        assert app.store.get(cid).params == {"top_p": 0.5}
        assert app.store.messages(cid)[1].stats == {"generated_tokens": 2}
        assert [str(n.render()) for n in app.chat.chat_view.query(Note)] == ["2 tokens · 0.0 tok/s"]
