"""A streaming reply is redrawn at most ten times a second, and less often when a redraw costs
the UI thread more (widgets/chat_view.py, ui/redraw_pace.py): every redraw parses and renders
its last Markdown block again, and redrawing every token kept the UI thread busy enough to
slow the decoder. What is shown stays the reply's text so far."""

from __future__ import annotations

import time

from conftest import wait_idle, wait_ready
from test_actions import SIZE, chat, long_settings, slow_engine, start_streaming
from textual.widgets.markdown import MarkdownStream

from qwen_tui.ui import redraw_pace


async def test_a_streaming_reply_is_redrawn_a_few_times_a_second(make_app, installed_model,
                                                                 monkeypatch):  # fmt: skip
    writes: list[str] = []
    write = MarkdownStream.write

    async def counted(self, fragment: str) -> None:
        writes.append(fragment)
        await write(self, fragment)

    monkeypatch.setattr(MarkdownStream, "write", counted)
    app = make_app(long_settings(3000), engine_factory=slow_engine)  # a piece every 20 ms
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        cid = await start_streaming(app, pilot, "Tell me a long story")
        writes.clear()
        pieces = len(app.queue.live[cid])
        await pilot.pause(1.5)
        assert app.queue.current == cid, "the reply should still be streaming"
        grown = len(app.queue.live[cid]) - pieces
        assert grown > 0 and 3 <= len(writes) <= 1.5 / redraw_pace.FASTEST + 3
        live = chat(app).chat_view.live
        so_far = app.queue.live[cid]
        assert live is not None and live.source and so_far.startswith(live.source)
        await pilot.press("escape")
        await wait_idle(app, pilot)
        saved = app.store.messages(cid)[-1]
        assert saved.content.startswith(so_far)


async def test_redraws_that_cost_the_ui_thread_more_come_less_often(make_app, installed_model,
                                                                    monkeypatch):  # fmt: skip
    """Each write here costs 40 ms of the UI thread's CPU: at five percent of a core, the pace
    settles near one redraw in 0.8 s instead of ten a second."""
    writes: list[str] = []
    write = MarkdownStream.write

    async def costly(self, fragment: str) -> None:
        writes.append(fragment)
        spent = time.thread_time() + 0.04
        while time.thread_time() < spent:
            pass
        await write(self, fragment)

    monkeypatch.setattr(MarkdownStream, "write", costly)
    app = make_app(long_settings(3000), engine_factory=slow_engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        cid = await start_streaming(app, pilot, "Tell me a long story")
        await pilot.pause(0.5)  # the pace has seen a few costly redraws
        writes.clear()
        await pilot.pause(2.0)
        assert app.queue.current == cid, "the reply should still be streaming"
        assert 1 <= len(writes) <= 4, f"{len(writes)} costly redraws in 2 s"
        live = chat(app).chat_view.live
        assert live is not None and app.queue.live[cid].startswith(live.source)
        await pilot.press("escape")
        await wait_idle(app, pilot)


async def test_a_streaming_thought_is_redrawn_at_the_same_pace(monkeypatch):
    """Thinking pieces are gathered like the answer's: a thousand pieces within one redraw's
    wait reach the thought in one update (each update re-renders all the thinking so far)."""
    from textual.app import App

    from qwen_tui.ui.widgets.chat_view import ChatView
    from qwen_tui.ui.widgets.thought import Thought

    adds: list[str] = []
    add = Thought.add

    def counted(self, text: str) -> None:
        adds.append(text)
        add(self, text)

    monkeypatch.setattr(Thought, "add", counted)

    class ViewApp(App):
        def compose(self):
            yield ChatView()

    async with ViewApp().run_test(size=(80, 24)) as pilot:
        view = pilot.app.query_one(ChatView)
        await view.start_reply()
        pieces = [f"step {i} [b]x[/b] " for i in range(1000)]
        for piece in pieces:
            await view.append_thought(piece)
        assert len(adds) <= 1
        await pilot.pause(redraw_pace.FASTEST * 3)
        [thought] = view.thoughts()
        assert thought.text == "".join(pieces) and len(adds) == 1
        await view.append("The answer.")  # the thought is whole before it collapses
        await view.stop_stream()
        assert not thought.streaming and thought.text == "".join(pieces)
