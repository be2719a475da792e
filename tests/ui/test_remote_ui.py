"""The app with [[remote]] entries, driven by real key presses: F4 lists them, a chat streams
through the real RemoteEngine from a loopback llama-server / vLLM / ollama
(``tests/openai_fake.py``), Esc stops it (the server sees the connection close), the status
bar shows the server's stats, an unreachable server is one sentence and the app stays usable,
and the wizard's "Connect to a server" tab writes a [[remote]] entry."""

from __future__ import annotations

from conftest import wait_idle, wait_ready
from openai_fake import free_port
from pilot import send, until
from textual.widgets import OptionList, Select, TabbedContent

from qwen_tui import config
from qwen_tui.remotes import RemoteEntry
from qwen_tui.ui.screens.chat import ChatScreen
from qwen_tui.ui.screens.dialogs import PickScreen
from qwen_tui.ui.screens.wizard import WizardScreen
from qwen_tui.ui.widgets.chat_view import AssistantMessage, Note
from qwen_tui.ui.widgets.server_choice import ServerChoice

SIZE = (110, 32)
ANSWER = "Hello! How can I help you today?"


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def status(app) -> str:
    return str(app.chat.status.render())


def settings_with(*entries: RemoteEntry, model: str | None = None) -> config.Settings:
    return config.Settings(model=model, remote=entries)


async def test_f4_lists_remote_models_and_a_chat_streams_through_one(make_app, fake_openai):
    vllm = fake_openai("vllm")
    llama = fake_openai("llama_server", pace=0.01)
    box = RemoteEntry("box", vllm.base_url, "Qwen/Qwen3-8B")
    other = RemoteEntry("other", llama.base_url, "qwen3-8b")
    app = make_app(settings_with(box, other, model="box"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        assert app.engine_state == "ready" and app.engine.info.family == "vllm"
        assert f"box · remote {box.host}" in status(app)

        await pilot.press("f4")
        picker = app.screen
        assert isinstance(picker, PickScreen)
        options = picker.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(2)]
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["remote:box", "remote:other"] and options.highlighted == 0
        assert labels[1] == f"other  (remote: qwen3-8b at {other.host})"
        await pilot.press("down", "enter")
        assert isinstance(app.screen, ChatScreen)
        await until(pilot, lambda: app.engine_state == "ready" and app.engine is not None)
        assert app.engine.info.family == "llama.cpp" and app.settings.model == "other"
        assert config.load()[0].model == "other"  # remembered
        assert "ctx 0/8192" in status(app)

        await send(pilot, "hi")
        cid = app.chat.conversation_id
        await wait_idle(app, pilot)
        reply = app.store.messages(cid)[-1]
        assert (reply.content, reply.state) == (ANSWER, "complete")
        assert reply.stats["model"] == "other" and reply.stats["prompt_tokens"] == 14
        shown = app.chat.chat_view.query(AssistantMessage).last()
        assert ANSWER in shown.source
        notes = [str(n.content) for n in app.chat.chat_view.query(Note)]
        assert "21 tokens · 29.9 tok/s" in notes  # llama-server's timings
        assert "29.9 tok/s" in status(app) and "ctx 35/8192" in status(app)

        app.store.set_params(cid, {"temperature": 0.25, "top_k": 5})  # this chat's own (f3)
        await send(pilot, "again")
        await wait_idle(app, pilot)
        sent = llama.requests[-1]
        assert sent["temperature"] == 0.25 and sent["top_k"] == 5
        assert sent["messages"][-3:] == [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": ANSWER},
            {"role": "user", "content": "again"},
        ]


async def test_escape_stops_a_remote_reply_and_closes_the_stream(make_app, fake_openai):
    fake = fake_openai("vllm", hold_after=10)  # thinks, writes "Hello!", then goes on and on
    app = make_app(settings_with(RemoteEntry("box", fake.base_url, "Qwen/Qwen3-8B")))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "hi")
        cid = app.chat.conversation_id
        await until(pilot, lambda: app.queue.live.get(cid) == "Hello!", what="streamed text")
        await pilot.press("escape")
        await wait_idle(app, pilot)
        reply = app.store.messages(cid)[-1]
        assert (reply.content, reply.state) == ("Hello!", "stopped")
        assert reply.stats["finish_reason"] == "cancelled"
        assert fake.disconnected.wait(5), "the server never saw the client go"
        assert "stopped" in status(app)


async def test_an_unreachable_server_is_one_sentence_and_the_app_stays_usable(
    make_app, fake_openai
):
    fake = fake_openai("ollama")
    down = RemoteEntry("down", f"http://127.0.0.1:{free_port()}/v1", "qwen3:8b")
    up = RemoteEntry("up", fake.base_url, "qwen3:8b")
    app = make_app(settings_with(down, up, model="down"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        assert app.engine_state == "error" and app.engine is None
        said = [m for m in messages(app) if "refused the connection" in m]
        assert len(said) == 1 and "\n" not in said[0] and "Traceback" not in said[0]
        assert '[[remote]] "down"' in said[0]
        assert "error" in status(app)

        await send(pilot, "hello?")  # kept, waiting for a model
        cid = app.chat.conversation_id
        assert [m.content for m in app.store.messages(cid)] == ["hello?"]
        assert any("No model is loaded yet" in m for m in messages(app))

        await pilot.press("f4")
        options = app.screen.query_one(OptionList)
        assert options.get_option_at_index(options.highlighted).id == "remote:down"
        await pilot.press("down", "enter")
        await wait_ready(app, pilot)
        await wait_idle(app, pilot)  # the waiting message is answered by the server that is up
        reply = app.store.messages(cid)[-1]
        assert (reply.role, reply.content, reply.state) == ("assistant", ANSWER, "complete")

        fake.close()  # the server goes away mid-session: one sentence, the chat goes on
        await send(pilot, "still there?")
        await wait_idle(app, pilot)
        assert app.store.messages(cid)[-1].state == "error"
        said = [m for m in messages(app) if "refused the connection" in m]
        assert '[[remote]] "up"' in said[-1]  # the reply's failure, naming the entry
        assert isinstance(app.screen, ChatScreen) and app.chat.prompt.text == ""


async def test_the_wizard_connects_to_a_server_and_writes_a_remote_entry(
    make_app, fake_openai, monkeypatch
):
    monkeypatch.setenv("OLLAMA_KEY", "sekrit-42")
    fake = fake_openai("ollama", key="sekrit-42")
    app = make_app(config.Settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f10")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.query_one("#route", TabbedContent).active = "server"
        await pilot.pause()
        server = wizard.query_one(ServerChoice)
        assert wizard.query_one("#start").disabled
        server.query_one("#server-url").value = fake.base_url.removesuffix("/v1")
        await until(pilot, lambda: server.problem, what="the check of a URL without /v1")
        assert f"Did you mean {fake.base_url}?" in server.problem
        server.query_one("#server-key-env").value = "OLLAMA_KEY"
        server.query_one("#server-url").value = fake.base_url
        await until(pilot, lambda: server.info is not None, what="the server's model list")
        select = server.query_one("#server-model", Select)
        assert [str(option[0]) for option in select._options[1:]] == [
            "qwen3:8b",
            "llama3.2:latest",
        ]
        assert "ollama serving 2 models: choose one" in str(wizard.query_one("#check").content)
        select.value = "qwen3:8b"
        server.query_one("#server-name").value = "laptop"
        await pilot.pause()
        assert not wizard.query_one("#start").disabled
        await pilot.click("#start")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), what="the wizard to close")
        await wait_ready(app, pilot)
        assert app.engine_state == "ready" and app.engine.info.family == "ollama"
        saved = config.load()[0]
        assert saved.model == "laptop"
        assert saved.remote == (RemoteEntry("laptop", fake.base_url, "qwen3:8b", "OLLAMA_KEY"),)
        assert "sekrit-42" not in config.paths.config_file().read_text()  # only its variable
        await send(pilot, "hi")
        await wait_idle(app, pilot)
        assert app.store.messages(app.chat.conversation_id)[-1].content == ANSWER
