"""The app on a real OpenAI-compatible server (llama-cpp-python's, tests/llama_peer.py), driven
by key presses: a [[remote]] entry opens at start, a message is answered and stored, Esc stops
a long reply and keeps what it wrote."""

from __future__ import annotations

import pytest
from conftest import wait_idle, wait_ready
from gguf_fixture import write_gguf
from llama_peer import llama_server
from pilot import send, until

from qwen_tui import config
from qwen_tui.remotes import RemoteEntry
from qwen_tui.testing.tiny import SCRIPTED_REPLY, build_tiny_qwen2
from qwen_tui.ui.widgets.chat_view import AssistantMessage


@pytest.fixture(scope="module")
def servers(tiny_source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-ui")
    write_gguf(build_tiny_qwen2(folder / "src", scripted=True), folder / "scripted.gguf", {})
    write_gguf(tiny_source, folder / "random.gguf", {})
    with llama_server(folder / "scripted.gguf", "scripted") as scripted:
        with llama_server(folder / "random.gguf", "random") as rambling:
            yield scripted, rambling


async def test_a_chat_on_llama_cpp_python_answers_and_stops(make_app, servers):
    scripted, rambling = servers
    entries = (
        RemoteEntry("paris", scripted, "scripted"),
        RemoteEntry("ramble", rambling, "random"),
    )
    app = make_app(config.Settings(model="paris", remote=entries, temperature=0.0))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(app, pilot)
        assert app.engine_state == "ready" and app.settings.model == "paris"
        await send(pilot, "What is the capital of France?")
        await wait_idle(app, pilot)
        reply = app.store.messages(app.chat.conversation_id)[-1]
        assert (reply.content, reply.state) == (SCRIPTED_REPLY, "complete")
        assert reply.stats["finish_reason"] == "stop"
        assert SCRIPTED_REPLY in app.chat.chat_view.query(AssistantMessage).last().source

        app.settings = config.Settings(  # the rambling one, with room for a long reply
            model="ramble", remote=entries, temperature=0.0, max_new_tokens=2000
        )
        app.switch_model("remote:ramble")
        await until(pilot, lambda: app.engine_state == "ready" and app.engine.info.name == "ramble")
        before = len(app.chat.chat_view.query(AssistantMessage))
        await send(pilot, "hi")
        cid = app.chat.conversation_id
        # Esc as soon as the view shows the reply (the stored text lags by up to half a second,
        # and the server writes its 489 tokens in well under one: it once ended first)
        replies = lambda: app.chat.chat_view.query(AssistantMessage)  # noqa: E731
        await until(pilot, lambda: len(replies()) > before and len(replies().last().source) > 5)
        await pilot.press("escape")
        await wait_idle(app, pilot)
        stopped = app.store.messages(cid)[-1]
        assert stopped.state == "stopped" and stopped.content
