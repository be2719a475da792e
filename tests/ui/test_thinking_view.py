"""Stored thinking in the chat view, without a model: collapsed to one line, opened and
closed by the key and by a click, plain text, and a reply cut while thinking says so.
(The live path, with a scripted tiny Qwen3, is in test_thinking.py.)"""

from __future__ import annotations

from textual.widgets import Static

from qwen_tui.ui.widgets.chat_view import AssistantMessage, Note
from qwen_tui.ui.widgets.thought import Thought, duration, heading

SIZE = (80, 24)
STATS = {"generated_tokens": 30, "decode_tokens_per_s": 9.0, "finish_reason": "stop",
         "thinking_seconds": 12.4}  # fmt: skip
THOUGHT = "The user asks for 2+2.\nI add them: [b]4[/b]."


def thinking_app(make_app):
    app = make_app(open_wizard=False)
    cid = app.store.create("Sums").id
    app.store.add_message(cid, "user", "What is 2+2?")
    app.store.add_message(cid, "assistant", "It is **4**.", stats=STATS, reasoning=THOUGHT)
    return app, cid


def head(thought: Thought) -> str:
    return str(thought.query_one("#head", Static).content)


def test_headings_and_durations() -> None:
    durations = [duration(s) for s in (0.0, 3.14, 12.4, 65, 120)]
    assert durations == ["under 0.1 s", "3.1 s", "12 s", "1 min 5 s", "2 min"]
    text = "\n  First line.  \nSecond."
    assert heading(text, None, streaming=True, expanded=True, cut=None) == "▾ Thinking…"
    assert heading(text, 3.0, streaming=False, expanded=False, cut=None) == (
        "▸ Thought for 3.0 s · First line."
    )
    assert heading(text, 3.0, streaming=False, expanded=True, cut=None) == "▾ Thought for 3.0 s"
    assert heading(text, None, streaming=False, expanded=True, cut="stopped") == (
        "▾ Thought · stopped before the answer"
    )


async def test_a_stored_thought_is_collapsed_and_opens_by_key_and_click(make_app) -> None:
    app, cid = thinking_app(make_app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        [thought] = app.screen.query(Thought)
        [answer] = app.screen.query(AssistantMessage)
        assert not thought.expanded and not thought.query_one("#body").display
        assert head(thought) == "▸ Thought for 12 s · The user asks for 2+2."
        assert thought.region.height == 1 and answer.source == "It is **4**."
        await pilot.press("f6")
        assert thought.expanded and thought.query_one("#body").display
        assert head(thought) == "▾ Thought for 12 s"
        # plain text: the brackets are shown as typed, not taken as markup
        assert str(thought.query_one("#body", Static).content) == THOUGHT
        await pilot.pause()
        assert thought.region.height == 1 + 2 + 1  # its heading, two lines, a blank one
        await pilot.press("f6")
        assert not thought.expanded
        await pilot.click(Thought)
        assert thought.expanded and app.focused is app.screen.prompt  # a click keeps focus
        await pilot.click(Thought)
        assert not thought.expanded
        assert app.store.messages(cid)[-1].content == "It is **4**."


async def test_the_key_is_remappable(make_app) -> None:
    from qwen_tui import config

    app, _ = thinking_app(make_app)
    app.settings = config.Settings(keys={"toggle_thinking": "ctrl+l"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+l")
        assert app.screen.query_one(Thought).expanded


async def test_without_any_thought_the_key_says_so(make_app) -> None:
    app = make_app(open_wizard=False)
    cid = app.store.create().id
    app.store.add_message(cid, "user", "hi")
    app.store.add_message(cid, "assistant", "hello")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f6")
        messages = [n.message for n in app._notifications]
        assert messages == ["No reply in this chat has any thinking to show."]


async def test_a_reply_cut_while_thinking_shows_the_thought_and_says_so(make_app) -> None:
    app = make_app(open_wizard=False)
    cid = app.store.create().id
    app.store.add_message(cid, "user", "Think hard")
    stopped = {**STATS, "finish_reason": "cancelled", "thinking_seconds": 2.0}
    app.store.add_message(cid, "assistant", "", "stopped", stats=stopped, reasoning="Step one")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        [thought] = app.screen.query(Thought)
        assert thought.expanded and head(thought) == (
            "▾ Thought for 2.0 s · stopped before the answer"
        )
        assert not app.screen.query(AssistantMessage)  # no empty answer under it
        [note] = app.screen.query(Note)
        assert str(note.content).startswith("⏹ stopped while thinking")


async def test_thinking_stays_apart_from_the_answer_in_256_colours(make_app) -> None:
    """Dimmed, but neither lost in the background nor the same as the answer's text."""
    from rich.color import ColorSystem

    app, _ = thinking_app(make_app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await pilot.pause()
        body = app.screen.query_one(Thought).query_one("#body")
        answer = app.screen.query_one(AssistantMessage)

        def colours(widget) -> tuple:
            style = widget.rich_style
            return tuple(c.downgrade(ColorSystem.EIGHT_BIT) for c in (style.color, style.bgcolor))

        (thought_fg, thought_bg), (answer_fg, _) = colours(body), colours(answer)
        assert thought_fg != thought_bg and thought_fg != answer_fg


def test_collapsed_thought_snapshot(snap_compare, make_app) -> None:
    from test_snapshots import settle

    assert snap_compare(thinking_app(make_app)[0], terminal_size=SIZE, run_before=settle)


def test_expanded_thought_snapshot(snap_compare, make_app) -> None:
    from test_snapshots import settle

    async def expand(pilot) -> None:
        await pilot.press("f6")
        await settle(pilot)

    assert snap_compare(thinking_app(make_app)[0], terminal_size=SIZE, run_before=expand)
