"""Text that comes from outside (a client, a file, an import): quoting it in one sentence, and
whether it can be stored or tokenized at all."""

from __future__ import annotations

from typing import Any


def quoted(value: Any, limit: int = 40) -> str:
    """``value`` as a message quotes it: its repr (so no character of it can pass for the
    message's own), cut to about ``limit`` characters, saying how long it was."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 10]}... ({len(text)} characters)"


def is_utf8(value: Any) -> bool:
    """Whether ``value`` is a string that UTF-8 can hold: JSON's "\\ud800" escapes make lone
    surrogates, which SQLite and the tokenizers refuse."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
