"""End to end: the real app streams replies from a real tiny bigdl model through the worker."""

from conftest import wait_idle, wait_ready
from pilot import send

from qwen_tui import config, paths
from qwen_tui.history import ConversationStore
from qwen_tui.ui.widgets.chat_view import AssistantMessage, UserMessage


async def test_send_streams_a_reply_and_saves_it(make_app, installed_model):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(app, pilot)
        assert app.engine_state == "ready"
        await send(pilot, "Hello there")
        await wait_idle(app, pilot)
        screen = app.screen
        assert [w.content for w in screen.query(UserMessage)] == ["Hello there"]
        replies = list(screen.query(AssistantMessage))
        assert len(replies) == 1 and replies[0].source
        cid = screen.conversation_id
        saved = app.store.messages(cid)
        assert [m.role for m in saved] == ["user", "assistant"]
        assert saved[1].state == "complete" and saved[1].content == replies[0].source
        assert saved[1].stats["generated_tokens"] > 0
        assert app.store.get(cid).title == "Hello there"
        assert "tok/s" in str(screen.status.render())


async def test_escape_stops_a_reply_and_keeps_the_partial_text(make_app, installed_model):
    from test_actions import slow_engine

    settings = config.Settings(temperature=0.0, max_new_tokens=3000, repetition_penalty=1.0)
    app = make_app(settings, engine_factory=slow_engine)  # still streaming when escape lands
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "Tell me a long story")
        for _ in range(200):
            await pilot.pause(0.02)
            if app.queue.live.get(app.screen.conversation_id):
                break
        # the status counts the prompt being answered (the partial reply is saved as it grows)
        asked = [
            m
            for m in app.service.prompt_messages(app.screen.conversation_id)
            if m.role != "assistant"
        ]
        assert app.screen.status.context_used == app.engine.count_tokens(asked) > 0
        await pilot.press("escape")
        await wait_idle(app, pilot)
        reply = app.store.messages(app.screen.conversation_id)[-1]
        assert reply.state == "stopped" and reply.content, reply
        assert reply.stats["finish_reason"] == "cancelled"
        assert reply.stats["generated_tokens"] < 3000
        assert "stopped" in str(app.screen.status.render())


async def test_history_survives_a_restart(make_app, installed_model):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "first chat")
        await wait_idle(app, pilot)
        await pilot.press("ctrl+n")
        await send(pilot, "second chat")
        await wait_idle(app, pilot)
    store = ConversationStore(paths.history_db())
    titles = [c.title for c in store.list()]
    assert titles == ["second chat", "first chat"]
    assert all(len(store.messages(c.id)) == 2 for c in store.list())
    store.close()
    again = make_app()
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert [w.content for w in again.screen.query(UserMessage)] == ["second chat"]
