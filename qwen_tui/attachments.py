"""Text files sent with a message (``ask -f FILE``, ``/file PATH`` and ctrl+l in the app):
reading one, what it costs in tokens, and whether a message with its files fits the window.

A file is refused, with one sentence and what to do, when it is missing, a folder, not a
regular file, larger than ``MAX_BYTES`` (checked before it is read), empty, or not text: NUL
bytes mean a binary file, bytes that are not UTF-8 a text in another encoding. How the model
sees a file is ``engine.attachments`` (a fenced block under its name, after the message).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .engine.types import Attachment, ChatMessage, Engine
from .errors import UsageError

MAX_BYTES = 1_000_000  # an attachment's largest size; a 1 MB text is ~250k tokens, past any window
FILE_COMMAND = "/file"


class AttachmentError(UsageError):
    """A file cannot be attached, or the message with its files does not fit the model."""


def read_attachment(path: str) -> Attachment:
    """The file at ``path`` (``~`` expanded) as an attachment named as it was given."""
    target = Path(path.strip()).expanduser()
    name = _shown(path.strip())
    try:
        info = target.stat()
    except FileNotFoundError:
        raise AttachmentError(
            f"There is no file {name}.", f"Check the path (relative to {os.getcwd()})."
        ) from None
    except OSError as exc:
        raise _unreadable(name, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise AttachmentError(f"{name} is a folder.", "Attach the files in it one at a time.")
    if not stat.S_ISREG(info.st_mode):
        raise AttachmentError(
            f"{name} is not a regular file.", "Save what it holds to a file and attach that."
        )
    if info.st_size > MAX_BYTES:
        raise _too_large(name, info.st_size)
    try:
        with target.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)  # it may have grown since
    except OSError as exc:
        raise _unreadable(name, exc) from None
    if len(raw) > MAX_BYTES:
        raise _too_large(name, len(raw))
    return Attachment(name, _text_of(name, raw))


def _shown(path: str) -> str:
    """A path as text the model and the history can hold: bytes of it that are not UTF-8
    (lone surrogates, from argv) as U+FFFD."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate no byte made
        return path.encode("utf-8", "replace").decode("utf-8")


def _text_of(name: str, raw: bytes) -> str:
    if not raw.strip():
        raise AttachmentError(f"{name} is empty.", "Attach a file with text in it.")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AttachmentError(
            f"{name} is UTF-16 text, not UTF-8.",
            f"Convert it first, e.g. `iconv -f utf-16 -t utf-8 {name} > copy.txt`.",
        )
    if b"\0" in raw:
        raise AttachmentError(
            f"{name} is not text: it holds NUL bytes (a binary file).",
            "Attach a text file, or convert this one to text first.",
        )
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark is not part of the text
    except UnicodeDecodeError as exc:
        raise AttachmentError(
            f"{name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}).",
            f"Convert it to UTF-8 first, e.g. `iconv -f latin1 -t utf-8 {name} > copy.txt`.",
        ) from None


def _too_large(name: str, size: int) -> AttachmentError:
    return AttachmentError(
        f"{name} is {size / 1e6:.1f} MB; an attachment may be at most {MAX_BYTES / 1e6:g} MB.",
        f"Attach the part that matters, e.g. `head -c 200000 {name} > part.txt`.",
    )


def _unreadable(name: str, exc: OSError) -> AttachmentError:
    return AttachmentError(
        f"Cannot read {name} ({exc.strerror or exc}).", "Check that you may read it."
    )


def split_file_lines(text: str) -> tuple[list[str], str]:
    """(the paths of the ``/file PATH`` lines that open ``text``, the text after them).
    Only leading lines count: a message that mentions /file further down is sent as typed."""
    lines = text.split("\n")
    paths: list[str] = []
    while lines and lines[0].strip().startswith(FILE_COMMAND + " "):
        path = lines.pop(0).strip()[len(FILE_COMMAND) :].strip()
        if len(path) > 1 and path[0] == path[-1] and path[0] in "'\"":
            path = path[1:-1]  # a quoted path (one with spaces, pasted from a shell)
        paths.append(path)
    return paths, "\n".join(lines) if paths else text


@dataclass(frozen=True)
class Counted:
    attachment: Attachment
    tokens: int  # what its block adds to the prompt


def count(engine: Engine, attachments: tuple[Attachment, ...]) -> list[Counted]:
    """Each file's tokens, as the engine counts them (a remote one estimates)."""
    base = engine.count_tokens([ChatMessage("user", "")])
    return [
        Counted(a, engine.count_tokens([ChatMessage("user", "", attachments=(a,))]) - base)
        for a in attachments
    ]


def check_fits(
    engine: Engine, system: str | None, message: ChatMessage, max_new: int | None
) -> int:
    """The tokens of the system prompt and ``message`` with its files (returned); refused
    with one sentence when they alone leave less than ``max_new`` (None: the model's default)
    of the window for the reply. Older turns are left out as needed, so they do not count."""
    info = engine.info
    window = info.context_window if info is not None else 0
    if info is not None:
        max_new = max_new or info.defaults.max_new_tokens
    max_new = max_new or 512  # what a local engine generates when nothing says
    messages = ([ChatMessage("system", system)] if system else []) + [message]
    tokens = engine.count_tokens(messages)
    if window <= 0 or tokens + max_new <= window or not message.attachments:
        return tokens
    counted = count(engine, message.attachments)
    files = ", ".join(f"{c.attachment.name} {c.tokens:,}" for c in counted)
    raise AttachmentError(
        f"The message and its files take {tokens:,} tokens ({files}), more than the "
        f"{window - max_new:,} the model's {window:,}-token window leaves beside "
        f"{max_new:,} for the reply.",
        "Remove a file or attach part of it, or lower max new tokens.",
    )
