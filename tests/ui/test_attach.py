"""Files in the app, driven by keys against the real app and the tiny real model: ctrl+l and
``/file PATH`` attach a file to the message being written, it shows above the prompt with its
tokens until it is sent or removed, the sent message shows the names (never the text, never
as markup), and a file that cannot be read or does not fit is refused in a notice."""

from __future__ import annotations

import threading

from conftest import wait_idle, wait_ready
from pilot import send, until
from test_actions import SIZE, chat, notifications, user_texts
from textual.widgets import Button, Input

from qwen_tui.engine.open import open_engine
from qwen_tui.engine.types import Attachment, ChatMessage
from qwen_tui.ui.screens.dialogs import TextPromptScreen
from qwen_tui.ui.widgets.attachment_bar import AttachedFile
from qwen_tui.ui.widgets.chat_view import AttachedNames

TEXT = "Line one\nLine two\n"


def shown_files(app) -> list[str]:
    """The lines above the prompt, as they read on screen."""
    return [str(row.query_one("PlainLabel").render()) for row in app.chat.query(AttachedFile)]


def sent_names(app) -> list[str]:
    """What the sent messages show of their files, as it reads on screen."""
    return [str(w.render()) for w in app.chat.chat_view.query(AttachedNames)]


def messages(app):
    cid = chat(app).conversation_id
    return app.store.messages(cid) if cid else []


async def test_ctrl_l_attaches_a_file_that_goes_with_the_next_message(
    make_app, installed_model, tmp_path
):
    notes = tmp_path / "notes.md"
    notes.write_text(TEXT)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        assert not app.chat.attachment_bar.display  # hidden while empty
        await pilot.press("ctrl+l")
        assert isinstance(app.screen, TextPromptScreen)
        app.screen.query_one("#value", Input).value = str(notes)
        await pilot.press("enter")
        await until(pilot, lambda: shown_files(app), what="the file above the prompt")
        file = Attachment(str(notes), TEXT)
        tokens = app.engine.count_tokens([ChatMessage("user", "", attachments=(file,))])
        tokens -= app.engine.count_tokens([ChatMessage("user", "")])
        assert shown_files(app) == [f"📎 {notes} · {tokens} tokens"]
        assert app.chat.attachment_bar.display and app.focused is chat(app).prompt

        await send(pilot, "Summarise.")
        await wait_idle(app, pilot)
        user, reply = messages(app)
        assert (user.content, user.attachments) == ("Summarise.", (file,))
        assert shown_files(app) == [] and not app.chat.attachment_bar.display
        assert user_texts(app) == ["Summarise."] and sent_names(app) == [f"📎 {notes} · 2 lines"]
        # the model read the file: the prompt is the one the fenced text makes
        asked = [ChatMessage("user", "Summarise.", attachments=(file,))]
        assert reply.stats["prompt_tokens"] == app.engine.count_tokens(asked)
        assert reply.stats["prompt_tokens"] > app.engine.count_tokens([ChatMessage("user", "Hi")])


async def test_file_lines_attach_and_send_in_one_go_or_wait_for_the_text(
    make_app, installed_model, tmp_path
):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(f"file {name}\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, f"/file {tmp_path / 'a.txt'}")  # alone: attached, nothing sent
        assert len(shown_files(app)) == 1 and chat(app).prompt.text == "" and messages(app) == []
        await send(pilot, f"/file {tmp_path / 'b.txt'}\nCompare them.")
        await wait_idle(app, pilot)
        user = messages(app)[0]
        assert [a.name for a in user.attachments] == [str(tmp_path / n) for n in ("a.txt", "b.txt")]
        assert user.content == "Compare them." and shown_files(app) == []


async def test_a_pending_file_is_removed_without_a_mouse(make_app, installed_model, tmp_path):
    for name in ("keep.txt", "drop.txt"):
        (tmp_path / name).write_text(name)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, f"/file {tmp_path / 'keep.txt'}\n/file {tmp_path / 'drop.txt'}")
        assert len(shown_files(app)) == 2
        await pilot.press("shift+tab")  # from the prompt to the nearest file's button
        assert isinstance(app.focused, Button) and "drop.txt" in str(
            app.focused.parent.query_one("PlainLabel").content
        )
        await pilot.press("enter")
        await until(pilot, lambda: len(shown_files(app)) == 1, what="the file removed")
        assert "keep.txt" in shown_files(app)[0]
        await send(pilot, "Only one.")
        await wait_idle(app, pilot)
        assert [a.name for a in messages(app)[0].attachments] == [str(tmp_path / "keep.txt")]


async def test_a_file_that_cannot_be_attached_is_a_notice_and_nothing_is_sent(
    make_app, installed_model, tmp_path
):
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        typed = f"/file {tmp_path / 'missing.txt'}\nHello"
        await send(pilot, typed)
        assert chat(app).prompt.text == typed and messages(app) == [] and shown_files(app) == []
        assert notifications(app)[-1].message.startswith(
            f"There is no file {tmp_path / 'missing.txt'}. Check the path"
        )
        await pilot.press("ctrl+l")
        app.screen.query_one("#value", Input).value = str(tmp_path / "image.png")
        await pilot.press("enter")
        await pilot.pause()
        assert "holds NUL bytes (a binary file)" in notifications(app)[-1].message
        assert notifications(app)[-1].title == "File not attached" and shown_files(app) == []


async def test_files_too_big_for_the_window_are_not_sent(make_app, installed_model, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 60_000)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, f"/file {big}\nRead all of it.")
        assert messages(app) == [] and chat(app).prompt.text == "Read all of it."
        assert len(shown_files(app)) == 1  # kept, to remove or replace
        notice = notifications(app)[-1]
        assert notice.title == "Not sent" and notice.message.startswith(
            "The message and its files take "
        )
        assert "Remove a file or attach part of it" in notice.message


async def test_markup_in_a_name_or_a_file_is_shown_as_typed(make_app, installed_model, tmp_path):
    hostile = tmp_path / "[bold red]x[-].md"
    hostile.write_text("[link=x]y[/link]\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await pilot.press("ctrl+l")
        app.screen.query_one("#value", Input).value = str(hostile)
        await pilot.press("enter")
        await until(pilot, lambda: shown_files(app), what="the file above the prompt")
        assert shown_files(app)[0].startswith(f"📎 {hostile} · ")
        await send(pilot, "")  # a file alone is a message
        await wait_idle(app, pilot)
        assert sent_names(app) == [f"📎 {hostile} · 1 line"] and user_texts(app) == []
        await chat(app).open(chat(app).conversation_id)  # drawn again from the history
        assert sent_names(app) == [f"📎 {hostile} · 1 line"]
        assert app.store.list()[0].title == str(hostile)[:59] + "…"  # titled by the file


async def test_edit_last_brings_the_files_back(make_app, installed_model, tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(app, pilot)
        await send(pilot, f"/file {tmp_path / 'a.txt'}\nFirst try.")
        await wait_idle(app, pilot)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert messages(app) == [] and chat(app).prompt.text == "First try."
        assert len(shown_files(app)) == 1 and str(tmp_path / "a.txt") in shown_files(app)[0]


async def test_a_file_attached_before_the_model_loads_is_counted_once_it_has(
    make_app, installed_model, tmp_path
):
    (tmp_path / "a.txt").write_text("alpha beta")
    loading = threading.Event()

    def held(model, settings):  # the model loads when the test says
        loading.wait(60)
        return open_engine(model.path, threads=1, kv_cache_mb=64)

    app = make_app(engine_factory=held)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await send(pilot, f"/file {tmp_path / 'a.txt'}")
        waiting = f"📎 {tmp_path / 'a.txt'} · tokens counted once a model is loaded"
        assert app.engine is None and shown_files(app) == [waiting]
        loading.set()
        await wait_ready(app, pilot)
        await until(pilot, lambda: shown_files(app) != [waiting], what="the count")
        assert shown_files(app)[0].endswith(" tokens") and "once" not in shown_files(app)[0]
