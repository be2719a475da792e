"""The settings dialogs, driven by keyboard through Textual's pilot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, TextArea

from qwen_tui.config import Settings
from qwen_tui.engine.types import FALLBACK_PARAMS, GenerationParams
from qwen_tui.ui.screens.conversation_settings import (
    ConversationSettings,
    ConversationSettingsScreen,
)
from qwen_tui.ui.screens.form import FormField
from qwen_tui.ui.screens.settings import SettingsScreen

MODELS = ["qwen-1_8b-chat-sym_int4", "qwen2.5-0.5b-instruct-sym_int4"]
MIRROR = "https://hf-mirror.com"
SIZE = (80, 24)


class Host(App[None]):
    """Pushes one screen on mount and records what it dismisses with."""

    def __init__(self, make_screen: Callable[[App[Any]], Screen[Any]]) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.results: list[Any] = []

    async def on_mount(self) -> None:
        screen = self.make_screen(self)
        await self.push_screen(screen, self.results.append)
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False  # stable snapshots


def settings_host(settings: Settings) -> Host:
    return Host(lambda app: SettingsScreen(settings, MODELS, list(app.available_themes)))


def conversation_host(
    system_prompt: str | None = None, params: GenerationParams | None = None
) -> Host:
    return Host(
        lambda app: ConversationSettingsScreen(
            "Trip plans", system_prompt, params or GenerationParams(), FALLBACK_PARAMS
        )
    )


def field_input(app: App[Any], setting: str) -> Input:
    return app.screen.query_one(f"#{setting} Input", Input)


def error_text(app: App[Any], setting: str) -> str:
    label = app.screen.query_one(f"#{setting} > Label.error", Label)
    return str(label.content) if label.has_class("-shown") else ""


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def focus_field(pilot: Pilot[Any], setting: str) -> None:
    """Tab (only the keyboard) until the field's control has focus."""
    for _ in range(30):
        focused = pilot.app.focused
        if focused is not None and owner_id(focused) == setting:
            return
        await pilot.press("tab")
    raise AssertionError(f"{setting} not reachable with Tab")


async def clear(pilot: Pilot[Any], setting: str) -> None:
    await focus_field(pilot, setting)
    await pilot.press("end", *["backspace"] * len(field_input(pilot.app, setting).value))


def owner_id(widget: Widget) -> str | None:
    """The form field (or button) a focused widget belongs to."""
    for node in widget.ancestors_with_self:
        if isinstance(node, (FormField, Button)):
            return node.id
    return None


async def test_form_shows_current_values() -> None:
    settings = Settings(MODELS[1], "asym_int4", temperature=0.7, top_k=40, max_new_tokens=256)
    settings = replace(settings, system_prompt="Be brief.", threads=2, hf_endpoint=MIRROR)
    app = settings_host(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        assert screen.query_one("#model Select", Select).value == MODELS[1]
        assert screen.query_one("#low_bit Select", Select).value == "asym_int4"
        assert screen.query_one("#theme Select", Select).value == "textual-dark"
        assert field_input(app, "temperature").value == "0.7"
        assert field_input(app, "top_p").value == ""
        assert field_input(app, "top_p").placeholder == "model default"
        assert field_input(app, "top_k").value == "40"
        assert field_input(app, "max_new_tokens").value == "256"
        assert field_input(app, "threads").value == "2"
        assert field_input(app, "hf_endpoint").value == MIRROR
        assert screen.query_one("#system_prompt TextArea", TextArea).text == "Be brief."
        assert error_text(app, "temperature") == ""


async def test_invalid_temperature_blocks_save_until_fixed() -> None:
    settings = Settings(kv_cache_mb=512, keys={"send": "ctrl+enter"}, top_p=0.9)
    app = settings_host(settings)
    async with app.run_test(size=SIZE) as pilot:
        await focus_field(pilot, "temperature")
        await pilot.press("7")
        assert error_text(app, "temperature") == (
            "temperature must be a number from 0 to 2, not '7'."
        )
        assert field_input(app, "temperature").has_class("-invalid")

        await pilot.press("tab", "ctrl+s")  # refused: focus goes back to the bad field
        await pilot.pause()
        assert app.results == []
        assert isinstance(app.screen, SettingsScreen)
        assert owner_id(app.focused) == "temperature"

        await pilot.press("backspace")
        await type_text(pilot, "0.5")
        assert error_text(app, "temperature") == ""
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [
        Settings(temperature=0.5, top_p=0.9, kv_cache_mb=512, keys={"send": "ctrl+enter"})
    ]


async def test_errors_show_on_blur_and_for_every_field() -> None:
    app = settings_host(Settings())
    async with app.run_test(size=SIZE) as pilot:
        await focus_field(pilot, "top_k")
        await type_text(pilot, "1.5")
        await focus_field(pilot, "hf_endpoint")
        await type_text(pilot, "mirror")
        await pilot.press("shift+tab")
        assert error_text(app, "top_k") == "top_k must be a whole number from 0 to 1000, not '1.5'."
        assert error_text(app, "hf_endpoint") == "hf_endpoint must be an http(s) URL, not 'mirror'."
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert owner_id(app.focused) == "top_k"  # the first invalid field


async def test_blank_fields_give_none() -> None:
    settings = Settings(MODELS[0], temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1)
    settings = replace(settings, max_new_tokens=300, threads=4, hf_endpoint=MIRROR)
    app = settings_host(settings)
    async with app.run_test(size=SIZE) as pilot:
        await focus_field(pilot, "model")
        await pilot.press("enter", "home", "enter")  # the blank choice: Automatic
        assert app.screen.query_one("#model Select", Select).is_blank()
        for name in ("temperature", "top_p", "top_k", "repetition_penalty"):
            await clear(pilot, name)
        for name in ("max_new_tokens", "threads", "hf_endpoint"):
            await clear(pilot, name)
        await focus_field(pilot, "save")
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [Settings()]


async def test_escape_returns_none_and_restores_previewed_theme() -> None:
    app = settings_host(Settings(temperature=0.3))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        original = app.theme
        await focus_field(pilot, "theme")
        await pilot.press("enter", "down", "down", "enter")
        await pilot.pause()
        chosen = app.screen.query_one("#theme Select", Select).value
        assert chosen != original
        assert app.theme == chosen  # previewed live
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]
        assert app.theme == original


async def test_save_keeps_the_chosen_theme() -> None:
    app = settings_host(Settings())
    async with app.run_test(size=SIZE) as pilot:
        await focus_field(pilot, "theme")
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        chosen = app.theme
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert chosen != "textual-dark"
    assert app.results == [Settings(theme=chosen)]


async def test_everything_reachable_with_tab() -> None:
    expected = [
        "model", "low_bit", "temperature", "top_p", "top_k", "repetition_penalty",
        "max_new_tokens", "system_prompt", "threads", "tool_steps", "theme", "hf_endpoint",
        "save", "cancel",
    ]  # fmt: skip
    app = settings_host(Settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        seen = [owner_id(app.focused)]
        for _ in range(len(expected) - 1):
            await pilot.press("tab")
            seen.append(owner_id(app.focused))
        assert seen == expected
        await pilot.press("tab")
        assert owner_id(app.focused) == "model"  # wraps round
        await pilot.press("shift+tab", "shift+tab")
        assert owner_id(app.focused) == "save"
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [Settings()]


async def test_conversation_settings_with_seed_and_prompt() -> None:
    app = conversation_host(params=GenerationParams(temperature=0.2))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert owner_id(app.focused) == "system_prompt"
        assert field_input(app, "temperature").value == "0.2"
        assert field_input(app, "top_p").placeholder == "default: 0.8"
        assert field_input(app, "seed").placeholder == "random"
        await type_text(pilot, "Answer in French.")
        await focus_field(pilot, "seed")
        await pilot.press("minus", "1")
        assert error_text(app, "seed") == "seed must be a whole number of 0 or more, not '-1'."
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        await pilot.press("backspace", "backspace", "4", "2")
        assert error_text(app, "seed") == ""
        await focus_field(pilot, "max_new_tokens")
        await type_text(pilot, "64")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [
        ConversationSettings(
            "Answer in French.", GenerationParams(temperature=0.2, max_new_tokens=64, seed=42)
        )
    ]


async def test_conversation_blank_means_defaults_and_escape_cancels() -> None:
    app = conversation_host("Old prompt", GenerationParams(top_k=5, seed=7))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#system_prompt TextArea", TextArea).text == "Old prompt"
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]

    app = conversation_host("Old prompt", GenerationParams(top_k=5, seed=7))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f7", "backspace")  # TextArea: select all, delete
        await clear(pilot, "top_k")
        await clear(pilot, "seed")
        expected = [
            "system_prompt", "temperature", "top_p", "top_k", "repetition_penalty",
            "max_new_tokens", "seed", "save", "cancel",
        ]  # fmt: skip
        seen = [owner_id(app.focused)]
        for _ in range(len(expected)):
            await pilot.press("tab")
            seen.append(owner_id(app.focused))
        assert seen == ["seed", "save", "cancel", *expected[:7]]
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [ConversationSettings(None, GenerationParams())]


def test_settings_snapshot(snap_compare: Any) -> None:
    async def invalid_temperature(pilot: Pilot[Any]) -> None:
        await focus_field(pilot, "temperature")
        await pilot.press("7", "shift+tab")

    settings = Settings(model=MODELS[0], top_k=40, threads=2)
    assert snap_compare(settings_host(settings), terminal_size=SIZE, run_before=invalid_temperature)


def test_conversation_settings_snapshot(snap_compare: Any) -> None:
    app = conversation_host("Plan a three-day trip.", GenerationParams(temperature=0.9, seed=1))
    assert snap_compare(app, terminal_size=SIZE)
