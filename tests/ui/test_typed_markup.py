"""Markup typed into every field of every form is text: F3 chat settings, ctrl+s settings,
F2 rename, the search, the F9 import path, the wizard's folder and server tabs. Nothing
crashes, and where the app shows what was typed (an error line, a title, a notification) it
shows it as typed."""

from __future__ import annotations

import shutil

import pytest
from pilot import until
from test_actions import SIZE, add_chat, chat, notifications, sidebar_items
from textual import events
from textual.widgets import Input, Label, TabbedContent

from qwen_tui.ui.plain import visible
from qwen_tui.ui.screens.conversation_settings import ConversationSettingsScreen
from qwen_tui.ui.screens.dialogs import TextPromptScreen
from qwen_tui.ui.screens.form import CheckedField, FormDialog
from qwen_tui.ui.screens.settings import SettingsScreen
from qwen_tui.ui.screens.wizard import WizardScreen
from qwen_tui.ui.widgets.model_choice import FOLDER, SERVER

MARKUP = ["[/]", "[bold red]x", "[link=x]y[/link]", "\x1b[31mred", "[@click=app.quit]q[/]"]


async def type_into(pilot, control, text: str) -> None:
    """Focus ``control`` and type ``text`` as keys; a control character (ESC) cannot be
    typed as a key, so it is pasted, as a terminal would deliver it."""
    control.focus()
    await pilot.pause()
    for char in text:
        if char.isprintable():
            await pilot.press("space" if char == " " else char)
        else:
            pilot.app.post_message(events.Paste(char))  # to the focused control
            await pilot.pause()


def control_text(control) -> str:
    return control.value if isinstance(control, Input) else control.text


def shown_error(field: CheckedField) -> str:
    """The field's error line as it reads on screen ("" when hidden)."""
    label = field.query_one("Label.error", Label)
    return str(label.render()) if label.has_class("-shown") else ""


async def fill_form(pilot, screen: FormDialog, text: str) -> dict[str, str]:
    """Type ``text`` into every field, in place of what it held; returns what each held."""
    held = {}
    for field in screen.query(CheckedField):
        held[field.setting] = control_text(field.control)
        if isinstance(field.control, Input):
            field.control.value = ""
        else:
            field.control.clear()
        await type_into(pilot, field.control, text)
    return held


def check_errors(screen: FormDialog, text: str) -> list[str]:
    """Every field that refused the text shows why, with the text as typed (its repr)."""
    refused = []
    for field in screen.query(CheckedField):
        typed = control_text(field.control)
        assert typed == text, (field.setting, typed)  # the control holds it as typed
        if field.error:
            refused.append(field.setting)
            assert shown_error(field) == visible(field.error)
            assert repr(text) in field.error
    return refused


async def clear_refused(
    pilot, screen: FormDialog, refused: list[str], held: dict[str, str] | None = None
) -> None:
    """Each refused field as it was before (blank, unless ``held`` says otherwise)."""
    for setting in refused:
        control = screen.field(setting).control
        control.focus()
        await pilot.press("end", *["backspace"] * len(control_text(control)))
        await type_into(pilot, control, (held or {}).get(setting, ""))


@pytest.mark.parametrize("text", MARKUP, ids=range(len(MARKUP)))
async def test_markup_in_every_field_of_the_chat_settings(make_app, text):
    app = make_app()
    cid = add_chat(app.store, "a chat", "hello", "hi")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, ConversationSettingsScreen)
        await fill_form(pilot, screen, text)
        await pilot.press("ctrl+s")  # refused: the numbers are not numbers
        await pilot.pause()
        assert app.screen is screen
        refused = check_errors(screen, text)
        assert set(refused) == {
            "temperature",
            "top_p",
            "top_k",
            "repetition_penalty",
            "max_new_tokens",
            "seed",
        }
        assert visible(repr(text)) in notifications(app)[-1].message
        await clear_refused(pilot, screen, refused)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert chat(app)
        assert app.store.get(cid).system_prompt == text  # kept as typed


@pytest.mark.parametrize("text", MARKUP, ids=range(len(MARKUP)))
async def test_markup_in_every_field_of_the_settings(make_app, text):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        held = await fill_form(pilot, screen, text)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        refused = check_errors(screen, text)
        assert "system_prompt" not in refused and "hf_endpoint" in refused
        await clear_refused(pilot, screen, refused, held)  # tool_steps may not be blank
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert chat(app)
        assert app.settings.system_prompt == text


@pytest.mark.parametrize("text", MARKUP, ids=range(len(MARKUP)))
async def test_markup_as_a_title_a_search_and_an_import_path(make_app, text):
    app = make_app()
    add_chat(app.store, "a chat", "hello", "hi")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f2")  # rename
        assert isinstance(app.screen, TextPromptScreen)
        box = app.screen.query_one(Input)
        await pilot.press("end", *["backspace"] * len(box.value))
        await type_into(pilot, box, text)
        await pilot.press("enter")
        await pilot.pause()
        title = " ".join(text.split())
        assert sidebar_items(app) == [visible(title)]

        await pilot.press("ctrl+f")  # the search, as typed (it finds the chat by its title)
        await type_into(pilot, app.chat.sidebar.query_one("#search", Input), text)
        await pilot.pause()
        await pilot.press("escape")
        assert chat(app)

        await pilot.press("f9")  # an import path that does not exist
        assert isinstance(app.screen, TextPromptScreen)
        await type_into(pilot, app.screen.query_one(Input), text)
        await pilot.press("enter")
        await pilot.pause()
        assert chat(app)
        errors = [n for n in notifications(app) if n.severity == "error"]
        assert errors and visible(text) in errors[-1].message


@pytest.mark.parametrize("text", MARKUP, ids=range(len(MARKUP)))
async def test_markup_in_every_field_of_the_wizard(make_app, text):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f10")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        tabs = wizard.query_one("#route", TabbedContent)
        check = wizard.query_one("#check")
        for route, fields in ((FOLDER, ("#path", "#name")), (SERVER, ("#server-url",))):
            tabs.active = route
            await pilot.pause()
            for selector in fields:
                await type_into(pilot, wizard.query_one(selector, Input), text)
                await pilot.press("enter")  # refused: Start stays off
                await pilot.pause()
                assert app.screen is wizard
            line = str(check.render())  # says why, quoting the text as typed
            assert visible(text) in line or visible(repr(text)) in line, line
        for selector in ("#server-key-env", "#server-name"):
            await type_into(pilot, wizard.query_one(selector, Input), text)
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is wizard
        assert wizard.query_one("#start").disabled
        await pilot.press("escape")
        assert chat(app)


async def test_a_folder_named_with_markup_is_quantized_through_the_wizard(
    make_app, tiny_source, tmp_path, monkeypatch
):
    """The folder ``x[/]y`` and the name ``[red]x``: every line that shows either (the
    progress, the status bar, the settings' model list, the model picker) shows it as typed."""
    from conftest import wait_ready
    from textual.widgets import OptionList, Select

    from qwen_tui.store import resources
    from qwen_tui.ui.widgets.setup_progress import SetupProgress

    monkeypatch.setattr(resources, "free_disk", lambda path: 1 << 40)
    source = tmp_path / "x[/]y"
    shutil.copytree(tiny_source, source)
    shown: list[str] = []  # the progress lines, as each report is drawn
    draw = SetupProgress.update_progress

    def drawn(widget: SetupProgress, progress) -> None:
        draw(widget, progress)
        lines = [widget.screen.query_one("#what"), *widget.query("#info, #detail")]
        shown.extend(str(line.render()) for line in lines)

    monkeypatch.setattr(SetupProgress, "update_progress", drawn)
    app = make_app()
    low = app.settings.low_bit
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f10")
        wizard = app.screen
        assert isinstance(wizard, WizardScreen)
        wizard.query_one("#route", TabbedContent).active = FOLDER
        await pilot.pause()
        await type_into(pilot, wizard.query_one("#path", Input), str(source))
        await type_into(pilot, wizard.query_one("#name", Input), "[red]x")
        assert not wizard.query_one("#start").disabled, str(wizard.query_one("#check").render())
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is not wizard, timeout=120, what="the quantizing")
        await wait_ready(app, pilot)
        assert app.engine_state == "ready"
        assert app.model.folder_name == f"[red]x-{low}"
        assert app.model.manifest.source == str(source.resolve())
        assert f"[red]x · {low}" in str(app.chat.status.render())

        await pilot.press("f4")  # the picker lists it as named
        options = app.screen.query_one(OptionList)
        assert str(options.get_option_at_index(0).prompt).startswith(f"[red]x-{low}")
        await pilot.press("escape")
        await pilot.press("ctrl+s")  # and so does the settings' model list
        assert isinstance(app.screen, SettingsScreen)
        select = app.screen.query_one("#model Select", Select)
        assert select.value == f"[red]x-{low}"
        assert f"[red]x-{low}" in str(select.query_one("#label").render())
        await pilot.press("escape")
        assert chat(app)
    assert f"Quantizing {source} to {low}" in shown
    assert "Reading ]y…" in shown  # the folder's last part: "x[" / "]y"


async def test_a_hub_file_named_with_markup_shows_in_the_download_progress(
    hub_server, tiny_source, tmp_path, monkeypatch
):
    from test_wizard import COMMIT, DOWNS, GB, REPO, Host, finish

    from qwen_tui.store import resources
    from qwen_tui.ui.widgets.setup_progress import SetupProgress

    monkeypatch.setattr(resources, "free_disk", lambda path: 100 * GB)
    monkeypatch.setattr(resources, "available_ram", lambda: 16 * GB)
    repo = tmp_path / "repo"
    shutil.copytree(tiny_source, repo)
    (repo / "x[").mkdir()
    (repo / "x[" / "]y.md").write_text("#")  # "x[/]y.md", the smallest: the first report
    hub_server.add_repo(REPO, repo, commit=COMMIT)
    details: list[str] = []
    draw = SetupProgress.update_progress

    def drawn(widget: SetupProgress, progress) -> None:
        draw(widget, progress)
        details.append(str(widget.query_one("#detail").render()))

    monkeypatch.setattr(SetupProgress, "update_progress", drawn)
    app = Host(endpoint=hub_server.endpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*DOWNS, "enter")
        await finish(app, pilot)
    assert app.return_code in (None, 0) and len(app.results) == 1
    assert "x[/]y.md" in details


async def test_keys_from_the_config_file_show_as_typed_in_help_and_the_palette(make_app):
    from test_actions import help_rows, type_text
    from textual.command import CommandList

    from qwen_tui import config

    app = make_app(config.Settings(keys={"new_chat": "[/]", "rename_chat": "[b]f2"}))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await type_text(pilot, "New chat")
        results = app.screen.query_one(CommandList)
        await until(pilot, lambda: results.option_count > 0, what="palette results")
        prompts = [str(results.get_option_at_index(i).prompt) for i in range(results.option_count)]
        assert any("New chat ([/])" in p for p in prompts), prompts
        await pilot.press("escape")
        await pilot.press("f1")
        rows = help_rows(app.screen)
        assert rows["new_chat"] == "[/]" and rows["rename_chat"] == "[b]f2"
        await pilot.press("escape")
        assert chat(app)


async def test_model_ids_a_server_lists_show_as_sent(make_app, fake_openai):
    from textual.widgets import Select

    from qwen_tui.ui.widgets.server_choice import ServerChoice

    ids = ["[/]odd", "[b]bold[/b]", "[@click=app.quit]q[/]"]
    fake = fake_openai("vllm", model_ids=ids)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f10")
        wizard = app.screen
        wizard.query_one("#route", TabbedContent).active = SERVER
        await pilot.pause()
        server = wizard.query_one(ServerChoice)
        await type_into(pilot, server.query_one("#server-url", Input), fake.base_url)
        await pilot.press("enter")  # asks at once
        await until(pilot, lambda: server.info is not None, what="the server's model list")
        select = server.query_one("#server-model", Select)
        select.focus()
        await pilot.press("enter")  # the list opens: every id as sent
        await pilot.pause()
        overlay = select.query_one("SelectOverlay")
        shown = [str(overlay.get_option_at_index(i).prompt) for i in range(overlay.option_count)]
        assert shown[1:] == ids
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert select.value == ids[1]
        assert str(select.query_one("#label").render()) == ids[1]
        await pilot.press("escape")
        assert chat(app)
