"""Every chat-screen action, driven by real key presses against the real app.

Tests that need replies use the tiny real bigdl model (``installed_model``);
the others start the app without a model so they are quick.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from conftest import wait_idle, wait_ready
from pilot import send, until
from textual import events
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Input, OptionList

from qwen_tui import config, paths
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.types import ChatMessage
from qwen_tui.manifest import MANIFEST
from qwen_tui.ui.bindings import APP_KEYS, PROMPT_KEYS
from qwen_tui.ui.screens.chat import ChatScreen
from qwen_tui.ui.screens.conversation_settings import ConversationSettingsScreen
from qwen_tui.ui.screens.dialogs import ConfirmScreen, PickScreen, TextPromptScreen
from qwen_tui.ui.screens.help import HelpScreen
from qwen_tui.ui.widgets.chat_view import AssistantMessage, UserMessage
from qwen_tui.ui.widgets.sidebar import Sidebar

SIZE = (100, 30)
CODE_REPLY = (
    "Here is the function:\n\n"
    "```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "And a shell line:\n\n```sh\necho hi\n```\n"
)


# -- helpers -----------------------------------------------------------------
async def type_text(pilot, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


def chat(app) -> ChatScreen:
    screen = app.screen
    assert isinstance(screen, ChatScreen), screen
    return screen


def sidebar_items(app) -> list[str]:
    options = app.chat.sidebar.query_one("#conversations", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def user_texts(app) -> list[str]:
    return [str(w.content) for w in app.chat.chat_view.query(UserMessage)]


def replies(app) -> list[AssistantMessage]:
    return list(app.chat.chat_view.query(AssistantMessage))


def notifications(app) -> list:
    return list(app._notifications)


def add_chat(store, title: str, *turns: str, stats: dict | None = None) -> int:
    """A conversation with alternating user / assistant turns."""
    cid = store.create(title).id
    for i, text in enumerate(turns):
        role = "user" if i % 2 == 0 else "assistant"
        store.add_message(cid, role, text, stats=stats if role == "assistant" else None)
    return cid


async def start_streaming(app, pilot, text: str) -> int:
    """Send ``text`` and wait until the reply has streamed some text."""
    await send(pilot, text)
    cid = app.chat.conversation_id
    await until(pilot, lambda: app.queue.live.get(cid), what="streamed text")
    return cid


class SlowEngine(BigdlEngine):
    """The real engine, paced so a long reply is surely still streaming while keys are pressed.

    (Unpaced, the tiny model speeds up as soon as its chat is not on screen and may finish
    a "long" reply before the pilot's next key press lands.)
    """

    def chat(self, messages, params=None, *, on_text=None, **kwargs):
        def paced(piece: str) -> None:
            time.sleep(0.02)
            if on_text is not None:
                on_text(piece)

        return super().chat(messages, params, on_text=paced, **kwargs)


def slow_engine(model, settings) -> SlowEngine:
    return SlowEngine(model.path, threads=1, kv_cache_mb=64)


def long_settings(max_new_tokens: int = 2000) -> config.Settings:
    return config.Settings(temperature=0.0, max_new_tokens=max_new_tokens, repetition_penalty=1.0)


# -- new chat ------------------------------------------------------------------
async def test_new_chat_opens_an_empty_conversation_titled_by_its_first_message(
    make_app, installed_model
):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        assert app.store.list() == []
        await pilot.press("ctrl+n")
        conversations = app.store.list()
        assert len(conversations) == 1 and conversations[0].title == "New chat"
        assert chat(app).conversation_id == conversations[0].id
        assert app.store.messages(conversations[0].id) == []
        assert chat(app).chat_view.query("#empty")  # the empty-chat hint
        assert sidebar_items(app) == ["New chat"]
        assert app.focused is chat(app).prompt

        await send(pilot, "Plan a trip to Rome\nwith two kids")
        await wait_idle(app, pilot)
        assert app.store.get(conversations[0].id).title == "Plan a trip to Rome"
        assert sidebar_items(app) == ["Plan a trip to Rome"]
        assert [m.role for m in app.store.messages(conversations[0].id)] == ["user", "assistant"]

        await pilot.press("ctrl+n")  # a second chat opens empty, the first is kept
        assert len(app.store.list()) == 2
        assert chat(app).conversation_id != conversations[0].id
        assert user_texts(app) == [] and replies(app) == []
        assert sidebar_items(app) == ["New chat", "Plan a trip to Rome"]


# -- rename --------------------------------------------------------------------
async def test_rename_changes_the_title_in_the_store_and_the_sidebar(make_app):
    app = make_app()
    cid = add_chat(app.store, "Old title", "hi", "hello")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert chat(app).conversation_id == cid
        await pilot.press("f2")
        assert isinstance(app.screen, TextPromptScreen)
        field = app.screen.query_one("#value", Input)
        assert field.value == "Old title"
        await pilot.press("end", "ctrl+u")
        await type_text(pilot, "Holiday plans")
        await pilot.press("enter")
        assert isinstance(app.screen, ChatScreen)
        assert app.store.get(cid).title == "Holiday plans"
        assert sidebar_items(app) == ["Holiday plans"]

        await pilot.press("f2", "escape")  # Esc cancels without renaming
        assert isinstance(app.screen, ChatScreen)
        assert app.store.get(cid).title == "Holiday plans"


# -- delete --------------------------------------------------------------------
async def test_delete_asks_first_and_y_removes_the_chat(make_app):
    app = make_app()
    keep = add_chat(app.store, "Keep me", "one", "two")
    doomed = add_chat(app.store, "Delete me", "three", "four")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert chat(app).conversation_id == doomed
        await pilot.press("f8")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Delete me" in str(app.screen.query_one(".title").content)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert [c.id for c in app.store.list()] == [keep]
        with pytest.raises(KeyError):
            app.store.messages(doomed)
        assert sidebar_items(app) == ["Keep me"]
        assert chat(app).conversation_id == keep
        assert user_texts(app) == ["one"]

        await pilot.press("f8", "y")  # deleting the last chat leaves an empty view
        await pilot.pause()
        assert app.store.list() == [] and sidebar_items(app) == []
        assert chat(app).conversation_id is None
        assert chat(app).chat_view.query("#empty")


async def test_delete_answered_n_keeps_the_chat(make_app):
    app = make_app()
    cid = add_chat(app.store, "Keep me", "one", "two")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f8")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert [c.id for c in app.store.list()] == [cid]
        assert len(app.store.messages(cid)) == 2
        assert sidebar_items(app) == ["Keep me"]

        await pilot.press("f8", "escape")  # Esc is also "no"
        await pilot.pause()
        assert [c.id for c in app.store.list()] == [cid]


# -- search --------------------------------------------------------------------
async def test_search_narrows_the_sidebar_by_message_text_and_clearing_shows_all(make_app):
    app = make_app()
    add_chat(app.store, "Trip plans", "Should we visit the Colosseum first?", "Yes, early.")
    add_chat(app.store, "Groceries", "Buy milk and eggs", "Noted.")
    add_chat(app.store, "Chinese notes", "我住在北京市。", "好的。")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        everything = ["Chinese notes", "Groceries", "Trip plans"]
        assert sidebar_items(app) == everything
        await pilot.press("ctrl+f")
        search = chat(app).sidebar.query_one("#search", Input)
        assert app.focused is search

        await type_text(pilot, "colosseum")  # only in a message, any case
        await pilot.pause()
        assert sidebar_items(app) == ["Trip plans"]

        await pilot.press("ctrl+u")  # clear the search box
        await pilot.pause()
        assert search.value == ""
        assert sidebar_items(app) == everything

        await type_text(pilot, "北京")  # two Chinese characters inside a message
        await pilot.pause()
        assert sidebar_items(app) == ["Chinese notes"]

        await pilot.press("ctrl+u")
        await type_text(pilot, "milk eggs")  # words ANDed
        await pilot.pause()
        assert sidebar_items(app) == ["Groceries"]

        await pilot.press("ctrl+u")
        await type_text(pilot, "nothing-like-this")
        await pilot.pause()
        assert sidebar_items(app) == []

        await pilot.press("ctrl+u")
        await pilot.pause()
        assert sidebar_items(app) == everything


async def test_search_result_opens_with_enter(make_app):
    app = make_app()
    trip = add_chat(app.store, "Trip plans", "Should we visit the Colosseum first?", "Yes.")
    add_chat(app.store, "Groceries", "Buy milk and eggs", "Noted.")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert chat(app).conversation_id != trip
        await pilot.press("ctrl+f")
        await type_text(pilot, "colos")
        await pilot.press("enter")  # to the list
        assert isinstance(app.focused, OptionList)
        await pilot.press("down", "enter")  # highlight the only result and open it
        await pilot.pause()
        assert chat(app).conversation_id == trip
        assert user_texts(app) == ["Should we visit the Colosseum first?"]
        assert app.focused is chat(app).prompt


async def test_search_enter_enter_opens_the_first_result(make_app):
    app = make_app()
    trip = add_chat(app.store, "Trip plans", "Should we visit the Colosseum first?", "Yes.")
    add_chat(app.store, "Groceries", "Buy milk and eggs", "Noted.")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+f")
        await type_text(pilot, "colos")
        await pilot.press("enter", "enter")
        await pilot.pause()
        assert chat(app).conversation_id == trip


async def test_toggle_sidebar_hides_and_shows_it_and_search_reveals_it(make_app):
    app = make_app()
    add_chat(app.store, "Chat", "hi", "hello")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        sidebar = chat(app).sidebar
        assert sidebar.display
        await pilot.press("ctrl+b")
        assert not sidebar.display
        await pilot.press("ctrl+b")
        assert sidebar.display
        await pilot.press("ctrl+b", "ctrl+f")  # search shows a hidden sidebar
        assert sidebar.display
        assert app.focused is sidebar.query_one("#search", Input)


# -- regenerate / edit last ------------------------------------------------------
async def test_regenerate_replaces_the_last_reply(make_app, installed_model):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "Hello there")
        await wait_idle(app, pilot)
        cid = chat(app).conversation_id
        user, old = app.store.messages(cid)
        await pilot.press("ctrl+r")
        await wait_idle(app, pilot)
        messages = app.store.messages(cid)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].id == user.id
        assert messages[1].id != old.id and messages[1].state == "complete"
        assert messages[1].content and messages[1].stats["generated_tokens"] == 40
        assert user_texts(app) == ["Hello there"]
        shown = replies(app)
        assert len(shown) == 1 and shown[0].source == messages[1].content


async def test_regenerate_with_nothing_to_regenerate_warns(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n", "ctrl+r")
        await pilot.pause()
        assert any("Nothing to regenerate" in n.message for n in notifications(app))
        assert not app.queue.pending


async def test_edit_last_puts_the_message_back_in_the_prompt_and_enter_resends(
    make_app, installed_model
):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "First question")
        await wait_idle(app, pilot)
        await send(pilot, "Second question")
        await wait_idle(app, pilot)
        cid = chat(app).conversation_id
        before = app.store.messages(cid)
        assert [m.role for m in before] == ["user", "assistant"] * 2

        await pilot.press("ctrl+g")
        await pilot.pause()
        assert app.store.messages(cid) == before[:2]
        assert chat(app).prompt.text == "Second question"
        assert app.focused is chat(app).prompt
        assert user_texts(app) == ["First question"] and len(replies(app)) == 1

        await pilot.press("end")
        await type_text(pilot, " again")
        await pilot.press("enter")
        await wait_idle(app, pilot)
        after = app.store.messages(cid)
        assert [m.content for m in after[:3]] == [
            "First question",
            before[1].content,
            "Second question again",
        ]
        assert [m.role for m in after] == ["user", "assistant"] * 2
        assert after[3].state == "complete" and after[3].content
        assert chat(app).prompt.text == ""
        assert user_texts(app) == ["First question", "Second question again"]
        assert len(replies(app)) == 2


# -- copy ------------------------------------------------------------------------
async def test_copy_reply_puts_the_last_reply_on_the_clipboard(make_app, installed_model):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, "Hello there")
        await wait_idle(app, pilot)
        reply = app.store.messages(chat(app).conversation_id)[-1].content
        assert reply
        await pilot.press("ctrl+o")
        assert app.clipboard == reply


async def test_copy_code_puts_the_code_blocks_on_the_clipboard(make_app):
    app = make_app()
    add_chat(
        app.store,
        "Code",
        "Write add()",
        "An older reply\n```\nold()\n```",
        "Again please",
        CODE_REPLY,
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        assert app.clipboard == "def add(a, b):\n    return a + b\n\necho hi"
        await pilot.press("ctrl+o")
        assert app.clipboard == CODE_REPLY


async def test_copy_code_without_a_code_block_warns(make_app):
    app = make_app()
    add_chat(app.store, "Plain", "hi", "just text")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        assert app.clipboard == ""
        assert any("no code block" in n.message for n in notifications(app))


# -- export / import ------------------------------------------------------------
async def test_an_export_that_cannot_be_written_is_one_sentence(make_app):
    app = make_app()
    add_chat(app.store, "Plans", "hi", "hello")
    folder = paths.data_dir() / "exports"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the folder should be")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)  # the app goes on
        (failed,) = [n for n in notifications(app) if n.severity == "error"]
        assert f"Could not write the export into {folder}" in failed.message
        assert "press f5 again" in failed.message


async def test_export_writes_markdown_and_json_and_import_reads_it_back(make_app):
    app = make_app()
    cid = add_chat(
        app.store,
        "Trip plans",
        "Plan 3 days in Rome",
        "Day 1: the Colosseum.",
        "And in 北京?",
        "第一天：故宫。",
    )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f5")
        folder = paths.data_dir() / "exports"
        md, js = folder / f"trip-plans-{cid}.md", folder / f"trip-plans-{cid}.json"
        assert sorted(p.name for p in folder.iterdir()) == sorted([md.name, js.name])
        text = md.read_text(encoding="utf-8")
        assert text.startswith("# Trip plans\n\n_Started ")
        assert text.count("## You · ") == 2 and text.count("## Assistant · ") == 2
        for part in (
            "\n\nPlan 3 days in Rome",  # under "## You · <date>"
            "\n\nDay 1: the Colosseum.",
            "And in 北京?",
            "第一天：故宫。",
        ):
            assert part in text
        data = json.loads(js.read_text(encoding="utf-8"))
        assert data["title"] == "Trip plans"
        originals = [(m.role, m.content) for m in app.store.messages(cid)]
        assert [(m["role"], m["content"]) for m in data["messages"]] == originals

        await pilot.press("f9")
        assert isinstance(app.screen, TextPromptScreen)
        await type_text(pilot, str(js))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        conversations = app.store.list()
        assert len(conversations) == 2
        imported = chat(app).conversation_id
        assert imported != cid and imported in [c.id for c in conversations]
        assert app.store.get(imported).title == "Trip plans"
        assert [(m.role, m.content) for m in app.store.messages(imported)] == originals
        assert user_texts(app) == ["Plan 3 days in Rome", "And in 北京?"]
        assert sidebar_items(app) == ["Trip plans", "Trip plans"]


async def test_import_of_a_bad_file_reports_an_error(make_app, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}', encoding="utf-8")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f9")
        await type_text(pilot, str(bad))
        await pilot.press("enter")
        await pilot.pause()
        assert app.store.list() == []
        errors = [n for n in notifications(app) if n.severity == "error"]
        assert errors and "Could not import" in errors[-1].message


# -- chat settings -----------------------------------------------------------------
async def test_chat_settings_saves_system_prompt_and_temperature(make_app):
    app = make_app()
    cid = add_chat(app.store, "Pirate", "hi", "hello")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # no system prompt anywhere: none is sent (the model's template adds its own)
        assert app.settings.system_prompt == ""
        assert app.service.prompt_messages(cid)[0] == ChatMessage("user", "hi")
        await pilot.press("f3")
        assert isinstance(app.screen, ConversationSettingsScreen)
        await type_text(pilot, "Answer like a pirate.")
        await pilot.press("tab")  # to the temperature field
        await type_text(pilot, "0.3")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        conversation = app.store.get(cid)
        assert conversation.system_prompt == "Answer like a pirate."
        assert conversation.params == {"temperature": 0.3}
        assert app.service.prompt_messages(cid)[0] == ChatMessage("system", "Answer like a pirate.")
        assert app.service.params(cid).temperature == 0.3
        assert app.service.params(cid).max_new_tokens == 40  # still the app default

        await pilot.press("f3")  # the form shows the saved values
        screen = app.screen
        assert isinstance(screen, ConversationSettingsScreen)
        assert screen.field("system_prompt").text == "Answer like a pirate."
        assert screen.field("temperature").text == "0.3"
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


# -- switch model ---------------------------------------------------------------------
async def test_switch_model_lists_local_models_and_loads_the_chosen_one(make_app, installed_model):
    second = paths.models_dir() / "tiny2-sym_int4"
    shutil.copytree(installed_model, second)
    manifest = json.loads((second / MANIFEST).read_text(encoding="utf-8"))
    manifest["name"] = "tiny2"
    (second / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        assert app.engine_state == "ready"
        assert app.model.folder_name == installed_model.name
        first_engine = app.engine

        await pilot.press("f4")
        picker = app.screen
        assert isinstance(picker, PickScreen)
        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == [installed_model.name, "tiny2-sym_int4"]
        assert options.highlighted == 0  # the current model
        await pilot.press("down", "enter")
        assert isinstance(app.screen, ChatScreen)
        assert app.model.folder_name == "tiny2-sym_int4"

        await until(
            pilot,
            lambda: app.engine_state == "ready" and app.engine is not None,
            what="the second model to load",
        )
        assert app.engine is not first_engine
        assert app.engine.info.name == "tiny2"
        assert app.settings.model == "tiny2-sym_int4"
        assert config.load()[0].model == "tiny2-sym_int4"  # saved
        assert "tiny2 · sym_int4" in str(chat(app).status.render())

        await send(pilot, "Hello there")  # the new engine answers
        await wait_idle(app, pilot)
        reply = app.store.messages(chat(app).conversation_id)[-1]
        assert reply.role == "assistant" and reply.state == "complete" and reply.content


# -- help / palette -----------------------------------------------------------------------
async def open_help_from_palette(app, pilot) -> HelpScreen:
    await pilot.press("ctrl+p")
    await type_text(pilot, "Keys and help")
    results = app.screen.query_one(CommandList)
    await until(
        pilot,
        lambda: (
            results.option_count and "Keys and help" in str(results.get_option_at_index(0).prompt)
        ),
        what="the help command",
    )
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
    return app.screen


def help_rows(screen: HelpScreen) -> dict[str, str]:
    """binding id -> keys as the help table shows them."""
    table = screen.query_one(DataTable)
    rows = [table.get_row_at(i) for i in range(table.row_count)]
    return {str(row[2]): str(row[0]) for row in rows}


async def test_help_lists_every_binding_and_escape_closes_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        rows = help_rows(screen)
        expected = {binding_id for binding_id, *_ in APP_KEYS + PROMPT_KEYS}
        assert expected <= set(rows), expected - set(rows)
        assert rows["regenerate"] == "ctrl+r" and rows["newline"] == "ctrl+j / shift+enter"
        assert rows["help"] == "f1" and rows["help_question"] == "?"
        labels = [str(c.label) for c in screen.query_one(DataTable).columns.values()]
        assert labels == ["Keys", "Action", "Id (for [keys])"]
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_help_is_also_in_the_command_palette(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_help_from_palette(app, pilot)
        assert "new_chat" in help_rows(screen)
        await pilot.press("q")
        assert isinstance(app.screen, ChatScreen)


@pytest.mark.parametrize(
    "key, screen_name",
    [
        ("f1", "HelpScreen"),
        ("ctrl+s", "SettingsScreen"),
        ("f10", "WizardScreen"),
    ],
)
async def test_app_wide_keys_work_from_the_chat_screen(make_app, key, screen_name):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert type(app.screen).__name__ == screen_name


async def test_command_palette_offers_and_runs_regenerate(make_app):
    app = make_app()
    cid = add_chat(app.store, "Chat", "a question", "an answer")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, "Regenerate")
        results = app.screen.query_one(CommandList)
        await until(pilot, lambda: results.option_count > 0, what="palette results")
        prompts = [str(results.get_option_at_index(i).prompt) for i in range(results.option_count)]
        assert any("Regenerate" in p for p in prompts), prompts
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), what="palette to close")
        await pilot.pause()
        # Without a model, regenerate rewinds the reply and queues the chat.
        assert [m.role for m in app.store.messages(cid)] == ["user"]
        assert app.queue.pending and app.queue.pending[0] == cid


# -- keymap ------------------------------------------------------------------------------
async def test_keymap_remaps_new_chat(make_app):
    app = make_app(config.Settings(temperature=0.0, max_new_tokens=40, keys={"new_chat": "f12"}))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+n")
        assert app.store.list() == []
        await pilot.press("f12")
        assert len(app.store.list()) == 1
        await pilot.press("f1")
        assert help_rows(app.screen)["new_chat"] == "f12"


async def test_keymap_ctrl_k_creates_a_chat_from_the_conversation_list(make_app):
    app = make_app(config.Settings(temperature=0.0, max_new_tokens=40, keys={"new_chat": "ctrl+k"}))
    add_chat(app.store, "Existing", "hi", "hello")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+f", "enter")  # focus the conversation list
        assert isinstance(app.focused, OptionList)
        await pilot.press("ctrl+n")
        assert len(app.store.list()) == 1
        await pilot.press("ctrl+k")
        assert len(app.store.list()) == 2
        assert app.store.get(chat(app).conversation_id).title == "New chat"


async def test_keymap_ctrl_k_creates_a_chat_from_the_prompt(make_app):
    app = make_app(config.Settings(temperature=0.0, max_new_tokens=40, keys={"new_chat": "ctrl+k"}))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is chat(app).prompt
        await pilot.press("ctrl+n")
        assert app.store.list() == []
        await pilot.press("ctrl+k")
        assert len(app.store.list()) == 1


# -- queueing and responsiveness -----------------------------------------------------------
async def test_a_send_while_another_chat_generates_is_queued(make_app, installed_model):
    app = make_app(long_settings(), engine_factory=slow_engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        a = await start_streaming(app, pilot, "Tell me a long story")
        await pilot.press("ctrl+n")
        b = chat(app).conversation_id
        app.store.set_params(b, {"max_new_tokens": 20})  # keep B's reply short
        await send(pilot, "A short question")
        await pilot.pause()
        assert app.queue.current == a and app.queue.queued == {b}
        items = sidebar_items(app)
        assert "… A short question" in items and "● Tell me a long story" in items
        assert "1 queued" in str(chat(app).status.render())
        assert len(app.store.messages(b)) == 1  # B waits: no reply started

        await pilot.press("escape")  # stops A; B starts
        await wait_idle(app, pilot)
        a_messages, b_messages = app.store.messages(a), app.store.messages(b)
        assert [m.role for m in a_messages] == ["user", "assistant"]
        assert a_messages[1].state == "stopped" and a_messages[1].content
        assert [m.role for m in b_messages] == ["user", "assistant"]
        assert b_messages[1].state == "complete" and b_messages[1].content
        assert b_messages[1].stats["generated_tokens"] == 20
        assert sidebar_items(app) == ["A short question", "Tell me a long story"]
        assert "queued" not in str(chat(app).status.render())
        assert chat(app).conversation_id == b
        assert len(replies(app)) == 1 and replies(app)[0].source == b_messages[1].content


async def test_the_ui_stays_responsive_while_a_reply_streams(make_app, installed_model):
    app = make_app(long_settings(3500), engine_factory=slow_engine)
    other = add_chat(app.store, "Other chat", "an old question", "an old answer")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await pilot.press("ctrl+n")
        a = await start_streaming(app, pilot, "Tell me a long story")

        await type_text(pilot, "draft")
        assert chat(app).prompt.text == "draft"
        assert app.queue.current == a  # still generating

        await pilot.press("ctrl+f", "enter")  # to the conversation list
        assert isinstance(app.focused, OptionList)
        for _ in range(3):
            if (
                app.focused.highlighted is not None
                and sidebar_items(app)[app.focused.highlighted] == "Other chat"
            ):
                break
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert chat(app).conversation_id == other
        assert user_texts(app) == ["an old question"]
        assert [r.source for r in replies(app)] == ["an old answer"]
        assert app.queue.current == a

        await pilot.press("ctrl+f", "enter")
        for _ in range(3):
            if sidebar_items(app)[app.focused.highlighted].endswith("Tell me a long story"):
                break
            await pilot.press("up")
        await pilot.press("enter")
        await pilot.pause()
        assert chat(app).conversation_id == a
        assert user_texts(app) == ["Tell me a long story"]
        live = chat(app).chat_view.live
        assert live is not None and live.has_class("streaming")
        await pilot.pause(0.3)
        so_far = app.queue.live[a]
        # The text so far is shown from its start (exact prefix: see the race test below).
        assert len(live.source) >= 20 and so_far.startswith(live.source[:20])
        assert app.queue.current == a, "the reply should still be streaming"

        await pilot.press("escape")
        await wait_idle(app, pilot)
        saved = app.store.messages(a)[-1]
        assert saved.state == "stopped" and saved.content.startswith(so_far)
        assert [r.source for r in replies(app)] == [saved.content]
        assert chat(app).prompt.text == "draft"


async def test_switching_back_to_a_streaming_chat_shows_exactly_the_text_so_far(
    make_app, installed_model
):
    app = make_app(long_settings(2000), engine_factory=slow_engine)
    other = add_chat(app.store, "Other chat", "an old question", "an old answer")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await pilot.press("ctrl+n")
        a = await start_streaming(app, pilot, "Tell me a long story")
        sidebar = chat(app).sidebar
        bad = []
        for _ in range(30):  # what Enter on a sidebar entry posts
            sidebar.post_message(Sidebar.Selected(other))
            await until(pilot, lambda: chat(app).conversation_id == other, what="other chat")
            sidebar.post_message(Sidebar.Selected(a))
            await until(pilot, lambda: chat(app).chat_view.live is not None, what="live reply")
            await pilot.pause(0.1)
            assert app.queue.current == a, "the reply should still be streaming"
            shown, so_far = chat(app).chat_view.live.source, app.queue.live[a]
            if not so_far.startswith(shown):
                bad.append((len(shown), len(so_far)))
        await pilot.press("escape")
        await wait_idle(app, pilot)
        assert bad == []


async def test_a_second_send_in_the_generating_chat_is_answered_after_the_first(
    make_app, installed_model
):
    app = make_app(long_settings(600), engine_factory=slow_engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        cid = await start_streaming(app, pilot, "Tell me a long story")
        await send(pilot, "And another thing")
        assert app.queue.current == cid  # the first reply is still streaming
        await pilot.press("escape")  # stop it; a queued follow-up may then run
        await wait_idle(app, pilot)
        messages = app.store.messages(cid)
        # the second message is kept and queued behind the reply being written; Esc stops
        # that one (kept, marked stopped), and the second is answered next
        assert [(m.role, m.state) for m in messages] == [
            ("user", "complete"),
            ("assistant", "stopped"),
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert messages[2].content == "And another thing" and chat(app).prompt.text == ""
        # The view shows the turns in the stored order.
        shown = [
            ("user", str(w.content)) if isinstance(w, UserMessage) else ("assistant", w.source)
            for w in chat(app).chat_view.children
            if isinstance(w, (UserMessage, AssistantMessage))
        ]
        assert shown == [(m.role, m.content) for m in messages]


async def test_deleting_the_generating_chat_reports_no_error(make_app, installed_model):
    app = make_app(long_settings(), engine_factory=slow_engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        cid = await start_streaming(app, pilot, "Tell me a long story")
        await pilot.press("f8", "y")
        await wait_idle(app, pilot)
        assert app.store.list() == []
        assert [n.message for n in notifications(app) if n.severity == "error"] == []
        assert chat(app).status.state != "error"
        assert cid not in app.queue.live


# -- the prompt ----------------------------------------------------------------------
async def test_ctrl_j_inserts_a_new_line_and_enter_sends_both_lines(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await type_text(pilot, "first")
        await pilot.press("ctrl+j")
        await type_text(pilot, "second")
        assert chat(app).prompt.text == "first\nsecond"
        assert app.store.list() == []  # nothing was sent
        await pilot.press("enter")
        await pilot.pause()
        cid = chat(app).conversation_id
        assert [m.content for m in app.store.messages(cid)] == ["first\nsecond"]
        assert chat(app).prompt.text == ""


async def test_pasting_multiple_lines_does_not_send(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        prompt = chat(app).prompt
        await prompt._on_paste(events.Paste("line one\nline two"))
        await pilot.pause()
        assert prompt.text == "line one\nline two"
        app.post_message(events.Paste("\nline three"))  # as the driver delivers it
        await pilot.pause()
        assert prompt.text == "line one\nline two\nline three"
        assert app.store.list() == []


async def test_question_mark_types_into_the_prompt_instead_of_opening_help(make_app):
    app = make_app()
    add_chat(app.store, "Chat", "hi", "hello")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await type_text(pilot, "why?")
        assert isinstance(app.screen, ChatScreen)
        assert chat(app).prompt.text == "why?"
        await pilot.press("ctrl+f")
        await type_text(pilot, "hi?")  # and into the search box
        assert chat(app).sidebar.query_one("#search", Input).value == "hi?"
        await pilot.press("ctrl+u", "enter")  # from the conversation list, ? opens help
        assert isinstance(app.focused, OptionList)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


async def test_empty_prompt_does_not_send(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("space", "ctrl+j", "enter")
        await pilot.pause()
        assert app.store.list() == []


# -- a broken config file -----------------------------------------------------------
async def test_a_broken_config_file_still_starts_the_app_with_a_warning(make_app):
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text('temperature = "hot"\nthis is not toml =\n', encoding="utf-8")
    settings, warnings = config.load()
    assert settings == config.Settings() and warnings
    app = make_app(settings, warnings=warnings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        shown = notifications(app)
        assert any(
            n.title == "config.toml" and n.severity == "warning" and "not valid TOML" in n.message
            for n in shown
        ), shown
        await send(pilot, "still works")  # the app is usable
        await pilot.pause()
        assert [m.content for m in app.store.messages(chat(app).conversation_id)] == ["still works"]


async def test_a_bad_value_in_the_config_file_is_reported(make_app):
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text("temperature = 9\nmax_new_tokens = 64\n", encoding="utf-8")
    settings, warnings = config.load()
    app = make_app(settings, warnings=warnings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.settings.max_new_tokens == 64 and app.settings.temperature is None
        assert any("temperature" in n.message for n in notifications(app))
