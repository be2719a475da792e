"""Tool calls in the real app: a tiny Qwen3 scripted to call the MCP test server's ``add``
(tests/tool_caller.py, our decoder) and the real server (tests/mcp_server.py). The call is
shown and asked about; run once, always, refused, Esc while asked and while it runs; a
server that cannot start, dies mid-call or answers an error; everything saved as it
happens."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
from conftest import wait_idle, wait_ready
from mcp_server import ADD_MODE, descendants, stdio_entry
from pilot import send, until
from textual.widgets import Button, Label
from tool_app import (
    CALL,
    SIZE,
    asked,
    body,
    call_views,
    chat_with_tools,
    head,
    install,
    roles,
    shown_text,
    tool_settings,
)

from qwen_tui.chat.tool_loop import NOT_RUN, REFUSED
from qwen_tui.engine.open import open_engine
from qwen_tui.ui.screens import chat_tools
from qwen_tui.ui.screens.tool_approval import ToolApprovalScreen
from qwen_tui.ui.widgets.chat_view import AssistantMessage, Note


@pytest.fixture(autouse=True)
def tool_caller_installed(tmp_path_factory, isolated_dirs):
    install(tmp_path_factory)


async def test_a_call_run_once_is_shown_asked_saved_and_answered(make_app):
    store, cid = chat_with_tools()
    app = make_app(tool_settings(), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        question = await asked(pilot)
        labels = [shown_text(label) for label in question.query(Label)]
        assert "Server: tests    Tool: add" in labels
        assert json.loads(shown_text(question.query_one("#arguments"))) == CALL
        assert app.focused is question.query_one("#refuse", Button)  # Enter cannot allow it
        # saved before it runs: the round's message, its call and the server it goes to
        user, round_one = store.messages(cid)
        [call] = round_one.tool_calls
        assert round_one.state == "complete" and round_one.tool_servers == {call.id: "tests"}
        assert json.loads(call.arguments) == CALL and call.name == "tests__add"
        [view] = call_views(app)  # and shown: server, tool, arguments as plain text
        assert shown_text(view.query_one(".call")) == '⚙ tests · add  {"a": 2, "b": 3}'
        await pilot.click("#once")
        await wait_idle(app, pilot)
        assert roles(store, cid) == ["user", "assistant", "tool", "assistant"]
        result, answer = store.messages(cid)[2:]
        assert (result.content, result.tool_call_id, result.tool_name) == ("5", call.id, call.name)
        # one round used (tool_steps = 1): the model is made to answer, and the note says so
        assert answer.state == "complete" and answer.stats["tool_limit"] == 1
        folded = view.result
        assert folded is not None and not folded.expanded
        assert head(folded) == "▸ Result · 1 character · 5"
        await pilot.click(folded)  # opens like a thought
        assert folded.expanded and body(folded) == "5"
        notes = [shown_text(n) for n in app.screen.chat_view.query(Note)]
        assert any("made to answer after 1 round of tool calls" in n for n in notes)
        assert app.tools.always(cid) == set()  # once is not always
    assert not descendants()  # quitting stopped the server


async def test_always_runs_the_tool_again_in_this_chat_without_asking(make_app, monkeypatch):
    asked_about: list[str] = []

    class Counted(ToolApprovalScreen):
        def on_mount(self) -> None:
            asked_about.append(self.call.name)
            super().on_mount()

    monkeypatch.setattr(chat_tools, "ToolApprovalScreen", Counted)
    store, cid = chat_with_tools()
    app = make_app(tool_settings(), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.click("#always")
        await wait_idle(app, pilot)
        await send(pilot, "And again?")
        await wait_idle(app, pilot)
        assert asked_about == ["tests__add"]
        results = [m.content for m in store.messages(cid) if m.role == "tool"]
        assert results == ["5", "5"]
        assert app.tools.always(cid) == {"tests__add"}
        # another chat asks again
        other = store.create(params={"enable_thinking": False, "tools": ["tests"]}).id
        await app.screen.open(other)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        assert asked_about == ["tests__add", "tests__add"]
        await pilot.click("#once")
        await wait_idle(app, pilot)


async def test_a_refused_call_is_not_run_and_the_model_is_told(make_app):
    store, cid = chat_with_tools()
    app = make_app(tool_settings(), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.press("enter")  # Refuse has the focus
        await wait_idle(app, pilot)
        assert roles(store, cid) == ["user", "assistant", "tool", "assistant"]
        result, answer = store.messages(cid)[2:]
        assert result.content == f"Error: {REFUSED}"
        assert answer.state == "complete"  # the conversation goes on
        [view] = call_views(app)
        assert head(view.result).startswith("✗ Refused")


async def test_esc_while_asked_refuses_and_stops_the_reply(make_app):
    store, cid = chat_with_tools()
    app = make_app(tool_settings(steps=3), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.press("escape")
        await wait_idle(app, pilot)
        assert not isinstance(app.screen, ToolApprovalScreen)
        # no further round: the call answered "not run", the reply ends there
        assert roles(store, cid) == ["user", "assistant", "tool"]
        assert store.messages(cid)[-1].content == f"Error: {NOT_RUN}"
        assert app.screen.status.state == "stopped"
        notes = [shown_text(n) for n in app.screen.chat_view.query(Note)]
        assert "⏹ stopped before the model answered" in notes
        assert head(call_views(app)[0].result) == f"⏹ {NOT_RUN}"


async def test_esc_while_the_call_runs_stops_it(make_app):
    entry = stdio_entry("tests", env={ADD_MODE: "hang"})
    store, cid = chat_with_tools()
    app = make_app(tool_settings(entry, steps=3), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.click("#once")
        await until(pilot, lambda: app.screen.status.state == "running a tool", 30, "the call")
        await pilot.press("escape")
        await wait_idle(app, pilot)
        assert roles(store, cid) == ["user", "assistant", "tool"]
        assert store.messages(cid)[-1].content == "Error: Stopped while add ran."
        assert app.screen.status.state == "stopped"


async def test_a_server_that_cannot_start_is_one_line_and_the_reply_goes_on(make_app):
    entry = stdio_entry("tests", args=("/nonexistent/server.py",))
    store, cid = chat_with_tools()
    app = make_app(tool_settings(entry), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await wait_idle(app, pilot)
        notes = [shown_text(n) for n in app.screen.chat_view.query(Note) if n.has_class("error")]
        assert len(notes) == 1 and notes[0].startswith("MCP server tests (failed: ")
        assert notes[0].endswith("; this reply goes on without it.")
        assert roles(store, cid) == ["user", "assistant"]  # answered, without tools
        assert store.messages(cid)[-1].state == "complete"
        assert app.screen.chat_view.query(AssistantMessage)


@pytest.mark.parametrize(
    ("mode", "said"), [("crash", "it stopped during a call"), ("error", "adding is switched off")]
)
async def test_a_call_that_fails_is_one_line_and_the_reply_goes_on(make_app, mode, said):
    entry = stdio_entry("tests", env={ADD_MODE: mode})
    store, cid = chat_with_tools()
    app = make_app(tool_settings(entry), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.click("#once")
        await wait_idle(app, pilot)
        assert roles(store, cid) == ["user", "assistant", "tool", "assistant"]
        result = store.messages(cid)[2]
        assert result.content.startswith("Error") and said in result.content
        assert store.messages(cid)[-1].state == "complete"
        folded = call_views(app)[0].result
        assert head(folded).startswith("⚠ Failed: ") and said in head(folded)
        assert folded.region.height == 1  # one line


async def test_a_model_that_cannot_call_tools_answers_without_them(make_app, installed_model):
    store, cid = chat_with_tools()
    settings = replace(tool_settings(), model=installed_model.name)  # the tiny Qwen2's template
    app = make_app(settings, store=store)  # has no tool calls
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await until(pilot, lambda: "cannot call them" in app.chat.status.tools, 30, "the meter")
        await send(pilot, "hi")
        await wait_idle(app, pilot)
        notes = [shown_text(n) for n in app.chat.chat_view.query(Note) if n.has_class("error")]
        assert notes == [
            "This model's chat template has no tool calls. This reply goes on without tools; "
            "f12 switches them off."
        ]
        assert roles(store, cid) == ["user", "assistant"]
        assert store.messages(cid)[-1].state == "complete"


async def test_esc_while_the_model_writes_after_a_call_stops_that_round(make_app):
    gate = threading.Event()

    def held(model, settings):  # the real engine, held after each piece of an answer
        engine = open_engine(model.path, threads=1, kv_cache_mb=64)
        chat = engine.chat

        def chat_held(messages, params=None, *, on_text=None, **options):
            def piece(text: str) -> None:
                on_text(text)
                gate.wait(30)

            return chat(messages, params, on_text=piece if on_text else None, **options)

        engine.chat = chat_held
        return engine

    store, cid = chat_with_tools()
    app = make_app(tool_settings(), store=store, engine_factory=held)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.click("#once")
        # the round after the call writes its answer (the call it was made not to make)
        await until(pilot, lambda: app.queue.live.get(cid), 30, "the answer")
        await pilot.press("escape")
        gate.set()
        await wait_idle(app, pilot)
        assert roles(store, cid) == ["user", "assistant", "tool", "assistant"]
        last = store.messages(cid)[-1]
        assert last.state == "stopped" and last.content and not last.tool_calls
        assert app.chat.status.state == "stopped"
        notes = [shown_text(n) for n in app.chat.chat_view.query(Note)]
        assert any(n.startswith("⏹ stopped") for n in notes)
