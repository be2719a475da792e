"""Quitting while a reply streams loses nothing of it: the store closes only after the
generating thread has saved its last piece."""

from __future__ import annotations

import inspect
import threading

from conftest import wait_ready
from test_actions import SIZE, SlowEngine, long_settings, start_streaming

from qwen_tui import paths
from qwen_tui.chat import service
from qwen_tui.history import ConversationStore
from qwen_tui.ui.app import QwenApp
from qwen_tui.ui.screens.dialogs import ConfirmScreen


async def test_quit_mid_reply_saves_all_it_showed(make_app, installed_model, monkeypatch):
    # No save while streaming: what the store holds is only what the reply saves as it stops.
    monkeypatch.setattr(service, "SAVE_EVERY", float("inf"))
    unmounting = threading.Event()  # the app is closing: its unmount handler has been called
    on_unmount = QwenApp.on_unmount

    async def closing(app: QwenApp) -> None:
        result = on_unmount(app)
        unmounting.set()
        if inspect.isawaitable(result):
            await result

    monkeypatch.setattr(QwenApp, "on_unmount", closing)

    class LateStop(SlowEngine):
        """Stops, but hands its reply back only once the app is closing (a big model in
        the middle of a long step does the same)."""

        def chat(self, *args, **kwargs):
            reply = super().chat(*args, **kwargs)
            if reply.stopped:
                assert unmounting.wait(30), "the app never closed"
            return reply

    def late_stop(model, settings) -> LateStop:
        return LateStop(model.path, threads=1, kv_cache_mb=64)

    app = make_app(settings=long_settings(), engine_factory=late_stop)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        cid = await start_streaming(app, pilot, "tell me a long story")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        shown = app.queue.live[cid]  # what the chat shows of the reply so far
        assert app.queue.current == cid and shown
        await pilot.press("y")
    store = ConversationStore(paths.history_db())
    saved = store.messages(cid)[-1]
    store.close()
    assert saved.role == "assistant" and saved.state == "stopped"
    assert saved.content.startswith(shown) and len(saved.content) >= len(shown)
    assert saved.stats is not None and saved.stats["finish_reason"] == "cancelled"
