"""Thinking in the real app with a model that really thinks: the scripted tiny Qwen3,
quantized from its folder and from a GGUF file, through our decoder. Shown live, collapsed
once the answer starts, toggled by the key, kept out of the next prompt; the chat's switch in
its settings, by /no_think and /think, and in the status bar."""

from __future__ import annotations

import threading

import pytest
from conftest import wait_idle, wait_ready
from test_actions import send, until
from textual.widgets import Select, Static
from thinking_model import ANSWER, THINKING, install, quantized

from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.ui.screens.conversation_settings import ConversationSettingsScreen
from qwen_tui.ui.widgets.chat_view import AssistantMessage, UserMessage
from qwen_tui.ui.widgets.thought import Thought

SIZE = (80, 24)


class GatedEngine(BigdlEngine):
    """The real engine, held after each piece of its thinking and of its answer until the
    test lets it go on (``go``), while ``hold``, so the view can be looked at mid-reply; it
    keeps each prompt it was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.go = threading.Event()
        self.hold = True
        self.prompts: list = []

    def chat(self, messages, params=None, *, on_text=None, on_reasoning=None, **kwargs):
        self.prompts.append((messages, params))

        def held(callback):
            def piece(text: str) -> None:
                callback(text)
                if self.hold:
                    self.go.wait(30)  # until the test has looked
                    self.go.clear()

            return piece

        return super().chat(
            messages, params, on_text=held(on_text), on_reasoning=held(on_reasoning), **kwargs
        )


def gated(model, settings) -> GatedEngine:
    return GatedEngine(model.path, threads=1, kv_cache_mb=64)


def head(thought: Thought) -> str:
    return str(thought.query_one("#head", Static).content)


def status(app) -> str:
    return str(app.screen.status.render())


@pytest.mark.parametrize("source", ["folder", "gguf"])
async def test_thinking_live_collapsed_toggled_and_kept_out_of_history(
    make_app, tmp_path_factory, source
):
    install(quantized(tmp_path_factory, source))
    app = make_app(engine_factory=gated)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        engine = app.engine
        assert engine.info.thinking == "switch" and "thinking on" in status(app)
        await send(pilot, "What is 2+2?")
        view = app.screen.chat_view
        await until(pilot, lambda: view.query(Thought), what="the thought")
        [thought] = view.query(Thought)
        await pilot.pause()
        # live: open, dimmed, headed "Thinking…", the answer not begun
        assert thought.streaming and thought.expanded and head(thought) == "▾ Thinking…"
        assert THINKING.startswith(thought.text) and thought.text
        assert not app.queue.live.get(app.screen.conversation_id)
        for _ in range(40):  # the rest of the thinking, a piece at a time, up to the answer
            engine.go.set()
            await pilot.pause(0.05)
            if app.queue.live.get(app.screen.conversation_id):
                break
        await pilot.pause()
        # the answer began: the thought collapsed to one line
        assert thought.text == THINKING and not thought.expanded
        assert head(thought).startswith("▸ Thought for ") and head(thought).endswith(THINKING)
        assert thought.region.height == 1
        engine.hold = False
        engine.go.set()
        await wait_idle(app, pilot)
        [thought] = view.query(Thought)  # the finished reply, as it was saved
        [answer] = view.query(AssistantMessage)
        assert answer.source == ANSWER and not thought.expanded
        await pilot.press("f6")
        assert thought.expanded and head(thought).startswith("▾ Thought for ")
        await pilot.press("f6")
        assert not thought.expanded

        # the next turn: the thought goes back only as reasoning, the template drops it
        engine.hold = False
        await send(pilot, "And 3+3?")
        await wait_idle(app, pilot)
        messages, params = engine.prompts[-1]
        assert [m.content for m in messages] == ["What is 2+2?", ANSWER, "And 3+3?"]
        assert messages[1].reasoning == THINKING
        ids = engine._builder.encode(messages, enable_thinking=params.enable_thinking)
        prompt = engine._builder.decode(ids)
        assert THINKING not in prompt and ANSWER in prompt
        saved = app.store.messages(app.screen.conversation_id)
        assert [(m.reasoning, m.content) for m in saved[1::2]] == [(THINKING, ANSWER)] * 2
        assert len(view.query(Thought)) == 2


async def test_no_think_alone_flips_the_switch_and_sends_nothing(make_app, tmp_path_factory):
    install(quantized(tmp_path_factory))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "/no_think")
        cid = app.screen.conversation_id
        assert cid is not None and app.store.messages(cid) == []  # nothing sent
        assert app.screen.prompt.text == ""
        assert app.service.params(cid).enable_thinking is False
        assert "thinking off" in status(app)
        assert any("Thinking off" in n.message for n in app._notifications)
        await send(pilot, "What is 2+2?")
        await wait_idle(app, pilot)
        assert not app.screen.chat_view.query(Thought)
        assert app.store.messages(cid)[-1].content == ANSWER
        # a message holding /think is sent as typed, and that reply thinks
        await send(pilot, "And 3+3? /think")
        await wait_idle(app, pilot)
        assert [str(w.content) for w in app.screen.query(UserMessage)][-1] == "And 3+3? /think"
        assert app.store.messages(cid)[-1].reasoning == THINKING
        assert len(app.screen.chat_view.query(Thought)) == 1
        await send(pilot, "/think")
        assert app.service.params(cid).enable_thinking is True and "thinking on" in status(app)
        assert len(app.store.messages(cid)) == 4
        await pilot.press("f7")  # the key flips it too
        assert app.service.params(cid).enable_thinking is False


async def test_the_chat_settings_switch_thinking_for_a_model_that_has_it(
    make_app, tmp_path_factory
):
    install(quantized(tmp_path_factory))
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2+2?")
        await wait_idle(app, pilot)
        cid = app.screen.conversation_id
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, ConversationSettingsScreen)
        select = screen.query_one("#enable_thinking Select", Select)
        assert select.value == 0  # the model's default
        select.value = 2  # off
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.store.get(cid).params == {"enable_thinking": False}
        assert "thinking off" in status(app)
        await pilot.press("ctrl+r")  # regenerate: now without thinking
        await wait_idle(app, pilot)
        last = app.store.messages(cid)[-1]
        assert (last.reasoning, last.content) == ("", ANSWER)
        assert not app.screen.chat_view.query(Thought)


async def test_a_model_that_does_not_think_shows_no_switch(make_app, installed_model):
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(app, pilot)
        assert "thinking" not in status(app)
        await send(pilot, "/think")
        cid = app.screen.conversation_id
        assert app.screen.prompt.text == "/think"  # not sent, kept in the box
        assert cid is None or app.store.messages(cid) == []
        assert any("does not think" in n.message for n in app._notifications)
        await send(pilot, "hi")
        await wait_idle(app, pilot)
        await pilot.press("f3")
        assert isinstance(app.screen, ConversationSettingsScreen)
        assert not app.screen.query("#enable_thinking")


async def test_a_chat_reopened_while_its_reply_thinks_shows_the_thought_so_far(
    make_app, tmp_path_factory
):
    install(quantized(tmp_path_factory))
    app = make_app(engine_factory=gated)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        engine = app.engine
        await send(pilot, "What is 2+2?")
        cid = app.screen.conversation_id
        await until(pilot, lambda: app.queue.live_thought.get(cid), what="thinking")
        engine.go.set()  # one more piece, while another chat is open
        await pilot.press("ctrl+n")
        assert not app.screen.chat_view.query(Thought)
        await app.screen.open(cid)
        await pilot.pause()
        [thought] = app.screen.chat_view.query(Thought)
        assert thought.streaming and thought.text == app.queue.live_thought[cid].text
        engine.hold = False
        engine.go.set()
        await wait_idle(app, pilot)
        [thought] = app.screen.chat_view.query(Thought)
        assert thought.text == THINKING and not thought.expanded
