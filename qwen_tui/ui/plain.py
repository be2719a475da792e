"""Text a user typed or a file held, made safe to show: never parsed as markup, and control
characters (an ESC would start a terminal escape sequence) shown as their Unicode pictures.
The stored text is untouched; only what reaches the screen goes through here."""

from __future__ import annotations

from textual.content import Content

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
