"""Attaching files to the message being written: ctrl+l asks for a path, a ``/file PATH`` line
at the top of the prompt does the same on Enter. Each file shows above the prompt with its
tokens until it is sent or removed; one that cannot be read, or files that leave the model no
room for its reply, are refused with the core's sentence (``qwen_tui/attachments.py``).

``ChatScreen`` (``chat.py``) is built on these actions; they are built on ``ChatActions``."""

from __future__ import annotations

import asyncio
import os

from ...attachments import AttachmentError, check_fits, read_attachment, split_file_lines
from ...engine.types import Attachment, ChatMessage
from .chat_actions import ChatActions
from .dialogs import TextPromptScreen


class AttachActions(ChatActions):
    def action_attach_file(self) -> None:
        async def done(path: str | None) -> None:
            if path and path.strip():
                await self.attach([path])
            self.prompt.focus()

        where = os.getcwd() + os.sep
        self.app.push_screen(TextPromptScreen("Attach a text file", "", where), done)

    async def attach(self, paths: list[str]) -> bool:
        """Read each file and show it above the prompt. At the first that cannot be read:
        a notice saying why, none of them attached, False."""
        try:
            files = tuple(read_attachment(path) for path in paths)
        except AttachmentError as exc:
            self.notify(exc.one_line(), title="File not attached", severity="error", timeout=12)
            return False
        for pending in await self.counted(files):
            await self.attachment_bar.add(pending)
        return True

    async def take_file_lines(self, text: str) -> str | None:
        """The text to send: the prompt's without the ``/file PATH`` lines that open it, their
        files now attached (the prompt keeps the rest, so a refused send never attaches them
        twice). None when nothing is to be sent now: a file cannot be attached (the prompt is
        left as typed), or the lines were all there was (the message is still being written)."""
        paths, rest = split_file_lines(text)
        if not paths:
            return text
        if not await self.attach(paths):
            return None
        self.prompt.load_text(rest)
        return rest if rest.strip() else None

    async def files_fit(self, text: str, files: tuple[Attachment, ...]) -> bool:
        """Whether the message with its files leaves the loaded model room for its reply
        (older turns are left out as needed); a notice when not. Without a model: True."""
        engine, cid = self.controller.engine, self.conversation_id
        if not files or engine is None or engine.info is None:
            return True
        service = self.controller.service
        params = service.params(cid) if cid else self.controller.default_params()
        message = ChatMessage("user", text, attachments=files)
        try:
            system, room = service.system_prompt(cid), params.max_new_tokens
            await asyncio.to_thread(check_fits, engine, system, message, room)  # tokenizes
        except AttachmentError as exc:
            self.notify(exc.one_line(), title="Not sent", severity="error", timeout=12)
            return False
        return True
