"""A chat's tools in the real app, around the calls: f12 switches its MCP servers (stored with
the chat, kept by the chat settings), the context meter counts their schemas, a stored
conversation shows its calls and folded results again (as plain text), and the settings hold
the rounds a reply may take."""

from __future__ import annotations

import pytest
from conftest import wait_idle, wait_ready
from mcp_server import stdio_entry
from pilot import send, until
from test_settings_screen import clear, error_text, settings_host, type_text
from textual.widgets import Switch
from tool_app import (
    SIZE,
    asked,
    body,
    call_views,
    chat_with_tools,
    head,
    install,
    shown_text,
    tool_settings,
)

from qwen_tui import config, paths
from qwen_tui.engine.types import ToolCall
from qwen_tui.history import ConversationStore
from qwen_tui.ui.screens.conversation_settings import ConversationSettingsScreen
from qwen_tui.ui.screens.tools_dialog import ToolsScreen
from qwen_tui.ui.widgets.tool_call import ToolResultView

HOSTILE_ARGS = '{"path": "[bold red]notes[/] \\u001b[2J"}'
HOSTILE_RESULT = "[link=https://x.example]click[/link]\x1b[2J\nsecond line"


@pytest.fixture(autouse=True)
def tool_caller_installed(tmp_path_factory, isolated_dirs):
    install(tmp_path_factory)


def status_text(app) -> str:
    return shown_text(app.chat.status)


def dialog_rows(app) -> list[str]:
    return [shown_text(w) for w in app.screen.query("#about-0")]


async def test_f12_switches_the_chats_servers_and_the_meter_counts_their_tools(make_app):
    entries = (stdio_entry("tests"), stdio_entry("off", enabled=False))
    settings = config.Settings(temperature=0.0, max_new_tokens=48, mcp=entries)
    app = make_app(settings)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_ready(app, pilot)
        assert app.tools.status("tests") is None  # nothing started before a chat wants it
        await pilot.press("f12")
        assert isinstance(app.screen, ToolsScreen)
        first, second = app.screen.query(Switch)
        assert not first.value and dialog_rows(app) == ["starts when switched on"]
        assert second.disabled and not second.value  # enabled = false in config.toml
        await pilot.click(first)
        await until(pilot, lambda: "ready" in dialog_rows(app)[0], 60, "the server")
        specs = app.tools.specs(["tests"])
        tokens = app.engine.tool_tokens(specs)
        assert len(specs) == 7 and tokens > 0
        assert dialog_rows(app) == [f"ready · 7 tools · {tokens:,} tokens of the context"]
        await pilot.press("ctrl+s")
        cid = app.chat.conversation_id
        assert app.store.get(cid).params == {"tools": ["tests"]}
        assert f"(tools {tokens:,} tok)" in status_text(app)
        # the meter: the chat's prompt with the tools' schemas
        assert app.chat.status.context_used == tokens
        # the chat settings (f3) keep the tools when they save
        await pilot.press("f3")
        assert isinstance(app.screen, ConversationSettingsScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.store.get(cid).params == {"tools": ["tests"]}
        # off again
        await pilot.press("f12")
        [first, _] = app.screen.query(Switch)
        assert first.value
        await pilot.click(first)
        await pilot.press("ctrl+s")
        assert app.store.get(cid).params == {}
        assert "tools" not in status_text(app) and app.chat.status.context_used == 0


async def test_f12_without_servers_says_how_to_add_them(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f12")
        assert not isinstance(app.screen, ToolsScreen)
        [notice] = app._notifications
        assert "[[mcp]]" in notice.message


async def test_a_stored_conversation_shows_its_calls_and_results_again(make_app):
    store, cid = chat_with_tools()
    app = make_app(tool_settings(), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "What is 2 + 3?")
        await asked(pilot)
        await pilot.click("#once")
        await wait_idle(app, pilot)
        live = [(shown_text(v.query_one(".call")), head(v.result)) for v in call_views(app)]
        await pilot.press("ctrl+n")
        assert call_views(app) == []
        await app.chat.open(cid)
        await pilot.pause()
        reopened = [(shown_text(v.query_one(".call")), head(v.result)) for v in call_views(app)]
        assert reopened == live == [('⚙ tests · add  {"a": 2, "b": 3}', head_of("5"))]
        [folded] = [v.result for v in call_views(app)]
        await pilot.click(folded)
        assert folded.expanded and body(folded) == "5"


def head_of(text: str) -> str:
    return f"▸ Result · {len(text)} character{'s' * (len(text) != 1)} · {text}"


async def test_calls_and_results_from_the_history_are_plain_text(make_app):
    store = ConversationStore(paths.history_db())
    cid = store.create(title="hostile").id
    store.add_message(cid, "user", "read my notes")
    call = ToolCall("call-1", "files__read", HOSTILE_ARGS)
    store.add_message(cid, "assistant", "", tool_calls=(call,), tool_servers={"call-1": "files"})
    store.add_message(cid, "tool", HOSTILE_RESULT, tool_call_id="call-1", tool_name=call.name)
    store.add_message(cid, "tool", "Error: no such file", tool_call_id="gone", tool_name="x")
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        [view] = call_views(app)
        assert shown_text(view.query_one(".call")) == (
            '⚙ files · read  {"path": "[bold red]notes[/] \\u001b[2J"}'
        )
        assert head(view.result) == (
            f"▸ Result · {len(HOSTILE_RESULT)} characters · [link=https://x.example]click"
            "[/link]␛[2J"
        )
        view.result.toggle()
        await pilot.pause()
        assert body(view.result) == "[link=https://x.example]click[/link]␛[2J\nsecond line"
        # a result whose call is not there stands alone, and reads as a failure
        alone = [r for r in app.chat.chat_view.query(ToolResultView) if r is not view.result]
        assert [head(r) for r in alone] == ["⚠ Failed: no such file"]


async def test_the_settings_hold_the_rounds_a_reply_may_take():
    app = settings_host(config.Settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await clear(pilot, "tool_steps")
        await type_text(pilot, "0")
        assert error_text(app, "tool_steps") == (
            "tool_steps must be a whole number from 1 to 100, not '0'."
        )
        await pilot.press("backspace", "3", "ctrl+s")
        await pilot.pause()
    assert [s.tool_steps for s in app.results] == [3]
