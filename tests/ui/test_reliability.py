"""The app under damage and company: a damaged page, a broken file, a second window."""

from __future__ import annotations

from test_actions import SIZE, chat, notifications, send, sidebar_items

from qwen_tui import instance, paths
from qwen_tui.history import ConversationStore
from qwen_tui.ui.app import open_history
from qwen_tui.ui.widgets.prompt_input import PromptInput
from qwen_tui.ui.widgets.sidebar import Sidebar


async def test_a_damaged_chat_is_one_sentence_and_the_app_goes_on(make_app):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
    from test_history_damage import damaged_history

    good, bad = damaged_history(paths.history_db())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chat(app).sidebar.post_message(Sidebar.Selected(bad))  # a click on the damaged chat
        await pilot.pause()
        await pilot.pause()
        errors = [n for n in notifications(app) if n.severity == "error"]
        assert errors and "is damaged" in errors[-1].message
        assert "doctor --repair" in errors[-1].message
        await chat(app).open(good)  # the app is still here, and the other chat whole
        await pilot.pause()
        assert chat(app).conversation_id == good
        assert "Fine chat" in sidebar_items(app)


async def test_a_history_that_cannot_be_opened_does_not_stop_the_app(make_app):
    paths.history_db().parent.mkdir(parents=True, exist_ok=True)
    paths.history_db().write_bytes(b"this is not a database" * 100)
    store, read_only, notices, lock = open_history()
    try:
        assert read_only is None and notices and "memory only" in notices[0]
        app = make_app(store=store, notices=notices)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            errors = [n for n in notifications(app) if n.severity == "error"]
            assert errors and "Cannot open the conversation history" in errors[0].message
            assert paths.history_db().read_bytes().startswith(b"this is not")  # untouched
    finally:
        lock.release()


async def test_a_second_window_reads_and_leaves_the_first_ones_reply_alone(make_app):
    first_lock = instance.acquire()  # the first window
    assert first_lock is not None
    first = ConversationStore(paths.history_db())
    cid = first.create("Live").id
    first.add_message(cid, "user", "hi")
    live = first.add_message(cid, "assistant", "streaming...", state="streaming")
    try:
        store, read_only, notices, lock = open_history()
        assert lock is None and read_only and str(instance.holder()) in read_only
        assert store.read_only
        app = make_app(store=store, read_only=read_only)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert sidebar_items(app) == ["Live"]  # it reads
            warnings = [n for n in notifications(app) if n.severity == "warning"]
            assert warnings and "Read-only" in warnings[0].message
            await send(pilot, "my text")
            await pilot.pause()
            assert app.screen.query_one(PromptInput).text == "my text"  # kept, not sent
            assert [m.content for m in first.messages(cid)] == ["hi", "streaming..."]
            assert app.engine is None  # no second model in memory
        # the first window's live reply was not marked stopped by the second one's start
        assert first.messages(cid)[-1].state == "streaming" and live.id
    finally:
        first_lock.release()
    assert instance.holder() is None


async def test_quit_and_switch_while_a_reply_streams_ask_first(make_app, installed_model):
    from test_actions import long_settings, slow_engine, start_streaming

    from qwen_tui.ui.screens.dialogs import ConfirmScreen, PickScreen

    app = make_app(settings=long_settings(), engine_factory=slow_engine)
    async with app.run_test(size=SIZE) as pilot:
        from conftest import wait_ready

        await wait_ready(app, pilot)
        cid = await start_streaming(app, pilot, "tell me a long story")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen) and "Quit anyway" in app.screen.question
        await pilot.press("n")  # no: the reply goes on
        assert app.is_running and app.queue.current == cid
        await pilot.press("f4")
        assert isinstance(app.screen, PickScreen)
        app.screen.dismiss("another-model")  # as if another model were picked
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "stops the reply" in app.screen.question
        await pilot.press("n")
        assert app.queue.current == cid  # still writing
        await pilot.press("ctrl+q")
        await pilot.press("y")
        await pilot.pause()
    saved = ConversationStore(paths.history_db()).messages(cid)[-1]
    assert saved.role == "assistant" and saved.content  # what it wrote is kept
    assert saved.state == "stopped"


async def test_a_reply_cut_at_max_new_tokens_says_so_and_ctrl_e_writes_on(
    make_app, installed_model
):
    from conftest import wait_idle, wait_ready
    from test_actions import long_settings, send

    from qwen_tui.ui.widgets.chat_view import Note

    app = make_app(settings=long_settings(max_new_tokens=6))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "count to a hundred")
        await wait_idle(app, pilot)
        cid = chat(app).conversation_id
        first = app.store.messages(cid)[-1]
        assert first.stats["finish_reason"] == "length"
        notes = [str(n.render()) for n in chat(app).chat_view.query(Note)]
        assert any("cut at max new tokens (ctrl+e continues)" in n for n in notes)
        await pilot.press("ctrl+e")
        await wait_idle(app, pilot)
        messages = app.store.messages(cid)
        assert [m.role for m in messages] == ["user", "assistant"]  # the same reply, longer
        longer = messages[-1]
        assert longer.content.startswith(first.content) and len(longer.content) > len(first.content)
        assert longer.token_ids[: len(first.token_ids)] == first.token_ids
        assert len(longer.token_ids) == len(first.token_ids) + 6


async def test_a_reply_that_fails_before_its_stream_ran_leaves_the_app_alive(make_app):
    """Textual's stream re-raises the cancel it is stopped with when its task never ran; a
    reply failing at once (a prompt too long) used to end the app's message loop: a frozen
    window. Here the reply starts and fails with no pause between."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = chat(app).chat_view
        await view.start_reply()
        await view.finish_reply("", "error", None, "The message is too long for the model.")
        await pilot.pause()
        assert not view.query(".streaming")
        assert [str(n.render()) for n in view.query("Note")] == [
            "The message is too long for the model."
        ]
        await pilot.press("ctrl+n")  # the app still handles keys: a new chat opens
        await pilot.pause()
        assert app.is_running and view.query("#empty") and not view.query("Note")


async def test_quit_with_a_message_waiting_for_the_model_says_so(make_app, installed_model):
    """Nothing is being written yet: the question says a message waits, not that a reply is
    being written; "no" keeps the app and the message."""
    import threading

    from qwen_tui.engine.bigdl.engine import BigdlEngine
    from qwen_tui.ui.screens.dialogs import ConfirmScreen

    loading = threading.Event()

    class SlowLoad(BigdlEngine):
        def load(self):
            loading.wait(20)  # until the test lets it
            return super().load()

    app = make_app(engine_factory=lambda model, s: SlowLoad(model.path, threads=1))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.engine_state == "loading"
        await send(pilot, "hello there")
        await pilot.pause()
        assert app.queue.pending and app.queue.current is None
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "waiting for its reply" in app.screen.question
        assert "being written" not in app.screen.question
        await pilot.press("n")
        assert app.is_running
        loading.set()
