"""Snapshots of the chat screen, a filtered sidebar and the help screen.

No model is installed and the wizard is off, so nothing depends on timing or a
model's output: the conversations (with fixed stats) are put in the store first.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from qwen_tui.ui.screens.help import HelpScreen

SIZE = (80, 24)
STATS = {
    "prompt_tokens": 31,
    "reused_tokens": 0,
    "generated_tokens": 42,
    "time_to_first_token": 0.05,
    "decode_tokens_per_s": 12.5,
    "total_seconds": 3.4,
    "dropped_turns": 0,
    "context_used": 73,
    "context_window": 4096,
    "finish_reason": "stop",
}
REPLY = (
    "## Adding numbers\n\n"
    "Use the **`+`** operator:\n\n"
    "```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "- works for `int` and `float`\n"
    "- also joins strings\n"
)


def prefilled(make_app):
    app = make_app(open_wizard=False)
    store = app.store
    groceries = store.create("Groceries").id
    store.add_message(groceries, "user", "Buy milk and eggs")
    store.add_message(groceries, "assistant", "Noted: milk and eggs.", stats=STATS)
    trip = store.create("Trip to Rome").id
    store.add_message(trip, "user", "Should we see the Colosseum first?")
    store.add_message(trip, "assistant", "Yes, go early in the morning.", stats=STATS)
    code = store.create().id  # titled from its first message
    store.add_message(code, "user", "How do I add two numbers in Python?")
    store.add_message(code, "assistant", REPLY, stats=STATS)
    return app


def no_blink(app) -> None:
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False


async def settle(pilot: Pilot[Any]) -> None:
    no_blink(pilot.app)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def test_chat_screen_snapshot(snap_compare, make_app):
    assert snap_compare(prefilled(make_app), terminal_size=SIZE, run_before=settle)


def test_sidebar_search_snapshot(snap_compare, make_app):
    async def search(pilot: Pilot[Any]) -> None:
        no_blink(pilot.app)
        await pilot.press("ctrl+f", *"colosseum")
        await settle(pilot)

    assert snap_compare(prefilled(make_app), terminal_size=SIZE, run_before=search)


def test_help_screen_snapshot(snap_compare, make_app, monkeypatch):
    # The help text shows the config path: make it the same on every run.
    monkeypatch.setenv("QWEN_TUI_CONFIG_DIR", "/tmp/qwen-tui-snapshot/config")

    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press("f1")
        assert isinstance(pilot.app.screen, HelpScreen)
        await settle(pilot)

    assert snap_compare(prefilled(make_app), terminal_size=SIZE, run_before=open_help)
