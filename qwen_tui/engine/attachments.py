"""What the model sees of the files sent with a message: each one after the message's text as
a fenced block under its name::

    Summarise this.

    `notes.md`:
    ```
    <the file's text>
    ```

Every engine goes through ``with_attachments`` (the local ones in ``PromptBuilder.encode``,
a remote one before it writes its request), so a model on a server reads what a local one
reads. The fence is longer than any run of backticks in the text, so a file that holds
```` ``` ```` cannot close it early and pass its rest for the user's own words.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .types import ChatMessage

_BACKTICKS = re.compile(r"`+")


def fence_for(text: str) -> str:
    """Backticks enough to open and close a block around ``text``: three, or one more than
    its longest run."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def inline_code(text: str) -> str:
    """``text`` as Markdown inline code (a file name that holds backticks stays one span)."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def fenced(name: str, text: str) -> str:
    """One file as a block: its name as inline code, a colon, its text fenced."""
    fence, body = fence_for(text), text.removesuffix("\n")
    return f"{inline_code(name)}:\n{fence}\n{body}\n{fence}"


def model_text(message: ChatMessage) -> str:
    """The message's text as the model reads it: its content, then each file."""
    if not message.attachments:
        return message.content
    blocks = [fenced(a.name, a.text) for a in message.attachments]
    return "\n\n".join([message.content, *blocks] if message.content else blocks)


def with_attachments(messages: list[ChatMessage]) -> list[ChatMessage]:
    """The messages with their files written into their text (``attachments`` emptied), as
    every engine sends them; the same list when none has a file."""
    if not any(m.attachments for m in messages):
        return messages
    return [
        replace(m, content=model_text(m), attachments=()) if m.attachments else m for m in messages
    ]
