"""Text a user typed or a file held, made safe to show: never parsed as markup, and control
characters (an ESC would start a terminal escape sequence) shown as their Unicode pictures.
The stored text is untouched; only what reaches the screen goes through here.

``PlainStatic`` and ``PlainLabel`` are the widgets for such text: whatever string they are
built or updated with is shown as typed, so no call site can forget to escape it."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.visual import VisualType
from textual.widgets import Label, Static

# C0 controls but tab and newline, DEL, and the C1 controls -> visible symbols
_PICTURES = {c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)}
_PICTURES[0x7F] = 0x2421
_PICTURES.update({c: 0xFFFD for c in range(0x80, 0xA0)})


def visible(text: str) -> str:
    """``text`` with control characters replaced by what shows them (␛ for ESC)."""
    return text.translate(_PICTURES)


def plain(text: str) -> Content:
    """Literal content: brackets stay brackets, controls become visible."""
    return Content(visible(text))


def _literal(content: VisualType) -> VisualType:
    return plain(content) if isinstance(content, str) else content


class PlainStatic(Static):
    """A ``Static`` whose strings are data: shown as typed, never parsed as markup."""

    def __init__(self, content: VisualType = "", **kwargs: Any) -> None:
        kwargs["markup"] = False
        super().__init__(_literal(content), **kwargs)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(_literal(content), layout=layout)


class PlainLabel(Label):
    """A ``Label`` whose strings are data: shown as typed, never parsed as markup."""

    def __init__(self, content: VisualType = "", **kwargs: Any) -> None:
        kwargs["markup"] = False
        super().__init__(_literal(content), **kwargs)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(_literal(content), layout=layout)
