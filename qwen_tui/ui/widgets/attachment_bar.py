"""The files attached to the message being written, above the prompt: a line each with its
name and its tokens (counted by the loaded model), and a button that removes it (Tab and
Enter reach it without a mouse). Hidden while there is none. A name is shown as typed,
never read as markup."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from ...engine.types import Attachment
from ..plain import PlainLabel, plain


@dataclass(frozen=True)
class Pending:
    attachment: Attachment
    tokens: int | None  # None: no model is loaded to count them


def describe(pending: Pending) -> str:
    tokens = "tokens counted once a model is loaded"
    if pending.tokens is not None:
        tokens = f"{pending.tokens:,} token{'s' * (pending.tokens != 1)}"
    return f"📎 {pending.attachment.name} · {tokens}"


class AttachedFile(Horizontal):
    DEFAULT_CSS = """
    AttachedFile { height: 1; }
    AttachedFile PlainLabel { width: 1fr; color: $text-muted; }
    AttachedFile Button { min-width: 10; height: 1; border: none; margin: 0; }
    """

    def __init__(self, pending: Pending) -> None:
        super().__init__()
        self.pending = pending

    def compose(self) -> ComposeResult:
        yield PlainLabel(describe(self.pending))
        yield Button(plain("✕ remove"), classes="remove", compact=True)


class AttachmentBar(Vertical):
    DEFAULT_CSS = """
    AttachmentBar { height: auto; max-height: 6; margin: 0 1; padding: 0 1; }
    AttachmentBar.empty { display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="empty", **kwargs)
        self.counted_by: object | None = None  # the engine that counted the tokens shown

    @property
    def pending(self) -> list[Pending]:
        return [row.pending for row in self.query(AttachedFile)]

    @property
    def files(self) -> tuple[Attachment, ...]:
        return tuple(p.attachment for p in self.pending)

    async def add(self, pending: Pending) -> None:
        await self.mount(AttachedFile(pending))
        self.remove_class("empty")

    async def replace(self, pending: list[Pending]) -> None:
        """Show these files instead (an edited message's, or counted anew)."""
        await self.remove_children()
        if pending:
            await self.mount_all([AttachedFile(p) for p in pending])
        self.set_class(not pending, "empty")

    def show_counts(self, pending: list[Pending]) -> None:
        """The same files with their tokens counted anew (by another model)."""
        for row, counted in zip(self.query(AttachedFile), pending, strict=True):
            row.pending = counted
            row.query_one(PlainLabel).update(describe(counted))

    async def clear(self) -> None:
        await self.replace([])

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        row = next(a for a in event.button.ancestors if isinstance(a, AttachedFile))
        await row.remove()
        self.set_class(not self.query(AttachedFile), "empty")
