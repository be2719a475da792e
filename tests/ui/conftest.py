"""An app factory: the real app with a real tiny model on the engine the app picks (ours,
without torch), in temporary dirs."""

from __future__ import annotations

import pytest

from qwen_tui import config, paths
from qwen_tui.engine.open import open_engine
from qwen_tui.history import ConversationStore


@pytest.fixture
def make_app(isolated_dirs):
    from qwen_tui.ui.app import QwenApp

    apps = []

    def factory(settings: config.Settings | None = None, store=None, **kwargs):
        settings = settings or config.Settings(
            temperature=0.0, max_new_tokens=40, repetition_penalty=1.0
        )
        store = store or ConversationStore(paths.history_db())
        kwargs.setdefault(
            "engine_factory", lambda model, s: open_engine(model.path, threads=1, kv_cache_mb=64)
        )
        kwargs.setdefault("open_wizard", False)
        app = QwenApp(settings=settings, store=store, **kwargs)
        apps.append(app)
        return app

    yield factory


async def wait_ready(app, pilot):
    """Until the model has loaded (or failed)."""
    for _ in range(400):
        await pilot.pause(0.05)
        if app.engine_state in ("ready", "error", "no model"):
            return
    raise AssertionError(f"engine still {app.engine_state}")


async def wait_idle(app, pilot):
    """Until no reply is generating or queued."""
    for _ in range(1200):
        await pilot.pause(0.05)
        if app.queue.current is None and not app.queue.pending and not app.queue.running:
            await pilot.pause()
            return
    raise AssertionError("reply still generating")
