"""Text a user types or a file holds is data, never markup: titles, messages, searches,
system prompts, import paths, notifications, model names. Nothing crashes, nothing is lost,
everything shows as typed."""

from __future__ import annotations

import pytest
from test_actions import (
    SIZE,
    add_chat,
    chat,
    notifications,
    sidebar_items,
    type_text,
    user_texts,
)
from textual.widgets import Input

from qwen_tui import config, paths
from qwen_tui.ui.plain import visible
from qwen_tui.ui.screens.chat import ChatScreen
from qwen_tui.ui.screens.conversation_settings import ConversationSettingsScreen
from qwen_tui.ui.screens.dialogs import ConfirmScreen, TextPromptScreen

INST = "What does [/INST] mean in Llama 2 prompts?"
HOSTILE = [
    INST,
    "[b]bold[/b] [/] [link=x]link[/link] [@click=app.quit]quit[/]",
    "[red on blue]colour",
    "tab\tand\x07bell and \x1b[31mansi\x1b[0m",
    "עברית ومرحبا rtl \u202e reversed \u202c",
    "emoji 😀👨‍👩‍👧 and 你好",
    "nul \x00 in the middle",
    "x" * 5000,
]


def screen_text(app) -> str:
    """Everything the screen shows, as plain text (what a user reads)."""
    return "\n".join(
        str(w.render()) if hasattr(w, "render") else "" for w in app.screen.walk_children()
    )


async def test_a_title_with_markup_shows_as_typed_and_survives_a_restart(make_app):
    app = make_app()
    cid = add_chat(app.store, INST, "[/INST] is the end of an instruction", "it marks [/]")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert sidebar_items(app) == [INST]
        assert user_texts(app) == ["[/INST] is the end of an instruction"]
        await pilot.press("f3")  # the chat's settings, titled by the chat
        assert isinstance(app.screen, ConversationSettingsScreen)
        await pilot.press("escape")
        await pilot.press("f2")  # rename, with the title in the field
        assert isinstance(app.screen, TextPromptScreen)
        assert app.screen.query_one(Input).value == INST
        await pilot.press("escape")
        await pilot.press("f8")  # "Delete “[/INST]…” and all its messages?"
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.press("f5")  # export: the paths in a notification
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:  # the next start, same database
        await pilot.pause()
        assert sidebar_items(again) == [INST] and again.store.get(cid).title == INST


async def test_an_import_path_with_markup_is_reported_as_typed(make_app, tmp_path):
    app = make_app()
    path = tmp_path / "[/]odd[b]" / "chat.json"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f9")
        await type_text(pilot, str(path))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        errors = [n for n in notifications(app) if n.severity == "error"]
        assert errors and str(path) in errors[-1].message


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_text_everywhere_a_user_can_type(make_app, text):
    """As a title, a message, a search, a chat's system prompt and a setting's value."""
    app = make_app()
    cid = add_chat(app.store, text, text, text)
    app.store.set_system_prompt(cid, text)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        stored = app.store.get(cid)
        assert stored.title == " ".join(text.split())  # a title is one line, as ever
        assert stored.system_prompt == text
        assert [m.content for m in app.store.messages(cid)] == [text, text]
        shown = sidebar_items(app)[0]
        assert shown == visible(stored.title)  # brackets as typed, controls made visible
        search = app.chat.sidebar.query_one("#search", Input)
        search.focus()
        search.value = text[:200]
        await pilot.pause()
        await pilot.press("escape")
        await pilot.press("f3")
        assert isinstance(app.screen, ConversationSettingsScreen)
        await pilot.press("escape")
        app.notify(text, title=text)  # what a failed import or export says about a path
        await pilot.pause()
        assert isinstance(chat(app), ChatScreen)


def hostile_config(text: str) -> None:
    body = 'system_prompt = """' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""\n'
    body += f'model = "{text[:40]}"\ntheme = "[b]x[/b]"\n'
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(body.replace("\x00", ""), encoding="utf-8")


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_config_values_come_through_or_are_reported(isolated_dirs, text):
    """TOML takes every character but the control ones: the values come through exactly (the
    theme is judged by the app, which has the themes), or the whole file is refused in a
    warning naming it and the defaults apply."""
    hostile_config(text)
    settings, warnings = config.load()
    if any(c < " " and c not in "\t\x00" for c in text):  # TOML's strings forbid these
        (warning,) = warnings
        assert f"{paths.config_file()} is not valid TOML" in warning
        assert settings == config.Settings()
    else:
        assert warnings == []
        assert settings.system_prompt == text.replace("\x00", "")
        assert settings.model == text[:40].replace("\x00", "")


async def test_the_app_reports_an_unknown_theme_as_typed(make_app, isolated_dirs):
    hostile_config(HOSTILE[1])
    settings, warnings = config.load()
    app = make_app(settings, warnings=warnings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        shown = [str(n.message) for n in app._notifications]
        assert any("theme '[b]x[/b]' is not one of the themes here" in m for m in shown), shown


PROMPTS = [*HOSTILE, "y" * 100_000]  # and a 100k-character paste


@pytest.mark.parametrize("text", PROMPTS, ids=range(len(PROMPTS)))
async def test_hostile_prompts_go_through_the_model_and_back(make_app, installed_model, text):
    """Typed, sent, tokenized, answered, saved, shown: each hostile text as a user's message."""
    from conftest import wait_idle, wait_ready
    from test_actions import send

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        if True:  # one hostile text per app
            await pilot.press("ctrl+n")
            await send(pilot, text)
            await wait_idle(app, pilot)
            cid = chat(app).conversation_id
            messages = app.store.messages(cid)
            assert messages[0].content == text  # saved as typed
            assert user_texts(app) == [visible(text)]
            if len(text) < 4000:
                assert messages[-1].role == "assistant" and messages[-1].state == "complete"
            else:  # longer than the tiny model's window: one sentence, the message kept
                errors = [n for n in notifications(app) if n.severity == "error"]
                assert errors and "too long for the model" in errors[-1].message
