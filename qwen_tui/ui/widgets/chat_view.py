"""The conversation: user messages as text, assistant replies as Markdown, a reply's
thinking apart above it (``thought.Thought``: plain text, collapsed once the answer starts).

A streaming reply is appended through ``Markdown.get_stream`` and rendered once more in full
when it ends. Its pieces are gathered and written to the stream at the pace the UI thread can
afford (``ui/redraw_pace.py``): each write parses and renders the reply's last block again (a
code block's whole highlighted text) and repaints the screen, so writing every token kept the
UI thread busy for a whole core and took it from the decoder, which then wrote 40 % slower
than `bench`. The view follows the newest token unless the user has scrolled up
(``anchor``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from ...chat import LiveThought
from ...engine.types import Attachment
from ...history import Message
from ..plain import PlainStatic
from ..redraw_pace import RedrawPace
from .thought import Thought
from .tool_call import ToolCallView, ToolViews

# a streaming reply's (answer, thinking) so far
LiveText = Callable[[], tuple[str, LiveThought | None]]

STATE_NOTES = {"stopped": "⏹ stopped", "error": "⚠ failed", "streaming": "… interrupted"}


class UserMessage(PlainStatic):
    DEFAULT_CSS = """
    UserMessage { background: $boost; border-left: thick $primary; padding: 0 1; margin: 1 0 0 0; }
    """


class AttachedNames(PlainStatic):
    """The files sent with a user message, a line each: their names, never their text."""

    DEFAULT_CSS = """
    AttachedNames { background: $boost; border-left: thick $primary; padding: 0 1;
        margin: 1 0 0 0; color: $text-muted; }
    AttachedNames.after-text { margin: 0; }
    """

    def __init__(self, files: tuple[Attachment, ...], after_text: bool) -> None:
        shown = "\n".join(f"📎 {a.name} · {_lines(a.text)}" for a in files)
        super().__init__(shown, classes="after-text" if after_text else "")
        self.files = files


def _lines(text: str) -> str:
    count = text.count("\n") + (not text.endswith("\n"))
    return f"{count:,} line{'s' * (count != 1)}"


def user_widgets(text: str, files: tuple[Attachment, ...]) -> list[PlainStatic]:
    """A user message: its text, then the names of its files (files alone: the names)."""
    widgets: list[PlainStatic] = [UserMessage(text)] if text or not files else []
    return widgets + ([AttachedNames(files, after_text=bool(widgets))] if files else [])


class AssistantMessage(Markdown):
    DEFAULT_CSS = """
    AssistantMessage { border-left: thick $accent 60%; padding: 0 1; margin: 1 0 0 0; }
    AssistantMessage.stopped { border-left: thick $warning; }
    AssistantMessage.error { border-left: thick $error; }
    AssistantMessage.after-thought { margin: 0; }
    """


class Note(PlainStatic):
    DEFAULT_CSS = """
    Note { color: $text-muted; padding: 0 1; }
    Note.error { color: $error; }
    """


class ChatView(VerticalScroll):
    DEFAULT_CSS = """
    ChatView { height: 1fr; padding: 0 1; }
    ChatView > #empty { color: $text-muted; margin: 1 2; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.conversation_id: int | None = None
        self.stream: MarkdownStream | None = None
        self.pending = ""  # the answer's pieces not yet written to the stream
        self.pending_thought = ""  # the thinking's pieces not yet shown
        self.redraw: Timer | None = None
        self.pace = RedrawPace()
        self.live: AssistantMessage | None = None
        self.live_thought: Thought | None = None

    async def show(
        self,
        conversation_id: int | None,
        messages: list[Message],
        live: LiveText | None = None,
    ) -> None:
        """Replace the view with a conversation; ``live`` gives a streaming reply's text so far."""
        await self.stop_stream()
        self.conversation_id = conversation_id
        await self.remove_children()
        widgets: list[Widget] = []
        tools = ToolViews()  # a reply's calls, each with its result
        for m in messages:
            if m.role == "user":
                widgets.extend(user_widgets(m.content, m.attachments))
            elif m.role == "assistant" and not (live is not None and m.state == "streaming"):
                calls = tools.calls_of(m)
                widgets.extend(self._reply_widgets(m.content, m.state, m.stats, m.reasoning, calls))
            elif m.role == "tool":
                widgets.extend(tools.result(m))
        if not messages:
            widgets.append(Static("Type a message below and press Enter.", id="empty"))
        await self.mount_all(widgets)
        if live is not None:
            await self.start_reply(live)
        self.anchor()
        self.scroll_end(animate=False)

    def _reply_widgets(
        self,
        text: str,
        state: str,
        stats: dict | None,
        reasoning: str = "",
        calls: Sequence[ToolCallView] = (),
    ) -> list[Widget]:
        """A reply: its thought, its answer, a note on how it ended; a round that called tools
        shows its calls instead of the note (and its text only if it wrote some)."""
        out: list[Widget] = []
        only_thought = bool(reasoning) and not text and not calls  # it ended before answering
        if reasoning:
            seconds = (stats or {}).get("thinking_seconds")
            cut = state if only_thought else None
            out.append(Thought(reasoning, seconds=seconds, cut=cut))
        if not only_thought and (text or not calls):
            widget = AssistantMessage(text or "")
            widget.add_class(state)
            widget.set_class(bool(reasoning), "after-thought")
            out.append(widget)
        note = STATE_NOTES.get(state)
        if only_thought and note:
            note += " while thinking"
        out.extend(calls)
        if stats and state in ("complete", "stopped") and not calls:
            speed = stats.get("decode_tokens_per_s") or 0
            info = f"{stats.get('generated_tokens', 0)} tokens · {speed:.1f} tok/s"
            if stats.get("dropped_turns"):
                info += f" · {stats['dropped_turns']} old turns left out"
            if state == "complete" and stats.get("finish_reason") == "length":
                info += (
                    " · cut at max new tokens while thinking (ctrl+e answers from there)"
                    if only_thought
                    else " · cut at max new tokens (ctrl+e continues)"
                )
            if stats.get("tool_limit"):
                rounds = stats["tool_limit"]
                info += f" · made to answer after {rounds} round{'s' * (rounds != 1)} of tool calls"
            note = f"{note} · {info}" if note else info
        if note:
            out.append(Note(note, classes=state))
        return out

    async def add_user(self, text: str, files: tuple[Attachment, ...] = ()) -> None:
        for empty in self.query("#empty"):
            await empty.remove()
        await self.mount_all(user_widgets(text, files))
        self.anchor()

    async def start_reply(self, live: LiveText | None = None) -> None:
        """Show a streaming reply; ``live`` gives its text so far, read once mounted."""
        await self.stop_stream()
        self.pending = self.pending_thought = ""
        self.live = AssistantMessage("")
        self.live.add_class("streaming")
        self.live_thought = None
        self.pace.restart()
        await self.mount(self.live)
        # No await between reading the text so far and opening the stream: every chunk
        # is either in that text or arrives (via append) after the stream exists; the
        # thought so far is mounted after, so later pieces of it wait for it (see below).
        text, thought = live() if live else ("", None)
        self.stream = Markdown.get_stream(self.live)
        if thought is not None:
            self._thought_for_live(thought.text)
            if text:
                self.live_thought.answered(thought.seconds)  # type: ignore[union-attr]
        if text:
            await self.stream.write(text)
        if self.live_thought is not None:
            await self.mount(self.live_thought, before=self.live)

    def _thought_for_live(self, text: str) -> Thought:
        self.live_thought = Thought(text, streaming=True)
        if self.live is not None:
            self.live.add_class("after-thought")
        return self.live_thought

    async def append_thought(self, text: str) -> None:
        """A piece of the streaming reply's thinking (it comes before any of its answer)."""
        if self.live is None or self.stream is None:
            return
        if self.live_thought is None:
            await self.mount(self._thought_for_live(text), before=self.live)
            return
        self.pending_thought += text
        self._schedule_redraw()

    def _schedule_redraw(self) -> None:
        if self.redraw is None:
            self.redraw = self.set_timer(self.pace.next_wait(), self.write_pending)

    async def append(self, text: str, thought_seconds: float | None = None) -> None:
        """A piece of the streaming reply's answer; the first one collapses its thought."""
        thought = self.live_thought
        if thought is not None and thought.streaming:
            self._show_pending_thought()
            thought.answered(thought_seconds)
        if self.stream is None:
            return
        self.pending += text
        self._schedule_redraw()

    def _show_pending_thought(self) -> None:
        thought, self.pending_thought = self.pending_thought, ""
        if thought and self.live_thought is not None:
            self.live_thought.add(thought)

    async def write_pending(self) -> None:
        """What the reply said since the last redraw, written to its stream (and its thought)."""
        self.redraw = None
        self._show_pending_thought()
        text, self.pending = self.pending, ""
        if text and self.stream is not None:
            await self.stream.write(text)

    def thoughts(self) -> list[Thought]:
        return list(self.query(Thought))

    async def finish_reply(
        self,
        text: str,
        state: str,
        stats: dict | None,
        error: str | None,
        reasoning: str = "",
        calls: Sequence[ToolCallView] = (),
    ) -> None:
        """The streaming reply (or a round of it that called ``calls``), whole, in its place."""
        await self.stop_stream()
        shown = text or reasoning or calls or state != "error"
        widgets = self._reply_widgets(text, state, stats, reasoning, calls) if shown else []
        if error:
            widgets.append(Note(error, classes="error"))
        live, self.live = self.live, None
        thought, self.live_thought = self.live_thought, None
        if live is not None and live.parent is self:
            # In the streaming reply's place: a message sent meanwhile stays below it.
            first = thought if thought is not None and thought.parent is self else live
            await self.mount_all(widgets, before=first)
            await live.remove()
        else:
            await self.mount_all(widgets)
        if thought is not None and thought.parent is self:
            await thought.remove()

    async def stop_stream(self) -> None:
        if self.stream is None:
            return
        if self.redraw is not None:
            self.redraw.stop()
        await self.write_pending()  # nothing streamed is left out of the live widget
        stream, self.stream = self.stream, None
        try:
            await stream.stop()
        except asyncio.CancelledError:
            # A stream stopped before its task first ran (a reply that fails at once, say
            # "too long") re-raises the cancel it was given; let that through and the app's
            # message loop ends and the window freezes. Only a cancel of our own goes on.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
