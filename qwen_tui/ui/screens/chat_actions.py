"""The chat screen's actions (each bound to a key with an id, each in the palette).

``ChatScreen`` (``chat.py``) is built on them; they are built on the thinking actions
(``chat_thinking.py``) and those on the screen's widgets and controller (``chat_base.py``);
they import neither the screen nor the app."""

from __future__ import annotations

import json
from pathlib import Path

from ... import paths
from ...chat import code_blocks
from ...engine.types import GenerationParams
from ...history import HistoryError
from .chat_thinking import ThinkingActions
from .dialogs import ConfirmScreen, PickScreen, TextPromptScreen


class ChatActions(ThinkingActions):
    """The actions of the chat screen (``ChatScreen`` is one of these)."""

    def _busy_notice(self) -> bool:
        cid = self.conversation_id
        if cid is not None and self.controller.queue.busy(cid):
            self.notify(
                "This chat is waiting for a reply; stop it first (Esc).", severity="warning"
            )
            return True
        return False

    async def action_new_chat(self) -> None:
        conversation = self.controller.store.create()
        await self.open(conversation.id)
        self.prompt.focus()

    def action_search(self) -> None:
        self.sidebar.remove_class("hidden")
        self.sidebar.query_one("#search").focus()

    def action_toggle_sidebar(self) -> None:
        self.sidebar.toggle_class("hidden")

    def action_stop(self) -> None:
        if self.controller.queue.stop_current():
            self.status.state = "stopped"
        elif self.focused is not self.prompt:
            self.prompt.focus()

    async def action_regenerate(self) -> None:
        cid = self.conversation_id
        if cid is None or self._busy_notice():
            return
        if not self.controller.service.rewind_for_regenerate(cid):
            self.notify("Nothing to regenerate yet.", severity="warning")
            return
        await self.open(cid)
        self.controller.queue.enqueue(cid)

    def action_continue_reply(self) -> None:
        """Write on the last reply where max new tokens cut it."""
        cid = self.conversation_id
        if cid is None or self._busy_notice():
            return
        if not self.controller.service.can_continue(cid):
            self.notify("The last reply was not cut short.", severity="warning")
            return
        self.controller.queue.enqueue(cid, continue_reply=True)

    async def action_edit_last(self) -> None:
        cid = self.conversation_id
        if cid is None or self._busy_notice():
            return
        message = self.controller.service.take_last_user_message(cid)
        if message is None:
            self.notify("There is no message to edit yet.", severity="warning")
            return
        await self.open(cid)
        self.prompt.load_text(message.content)
        await self.attachment_bar.replace(await self.counted(message.attachments))  # sent again
        self.prompt.focus()
        self.notify("Edit the message and press Enter to resend it.")

    def _last_reply(self) -> str | None:
        if self.conversation_id is None:
            return None
        messages = self.controller.store.messages(self.conversation_id)
        replies = [m for m in messages if m.role == "assistant"]
        return replies[-1].content if replies and replies[-1].content else None

    def action_copy_reply(self) -> None:
        text = self._last_reply()
        if not text:
            self.notify("There is no reply to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the last reply ({len(text)} characters) to the clipboard.")

    def action_copy_code(self) -> None:
        blocks = code_blocks(self._last_reply() or "")
        if not blocks:
            self.notify("The last reply has no code block.", severity="warning")
            return
        self.app.copy_to_clipboard("\n\n".join(blocks))
        self.notify(f"Copied {len(blocks)} code block(s) to the clipboard.")

    def action_rename_chat(self) -> None:
        cid = self.conversation_id
        if cid is None:
            return

        def done(title: str | None) -> None:
            if title and title.strip():
                self.controller.store.rename(cid, title.strip())
                self.refresh_sidebar()

        title = self.controller.store.get(cid).title
        self.app.push_screen(TextPromptScreen("Rename chat", title), done)

    def action_delete_chat(self) -> None:
        cid = self.conversation_id
        if cid is None:
            return
        title = self.controller.store.get(cid).title

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            self.controller.queue.drop(cid)
            self.controller.forget(cid)
            self.controller.store.delete(cid)
            rest = self.controller.store.list()
            await self.open(rest[0].id if rest else None)

        self.app.push_screen(ConfirmScreen(f"Delete “{title}” and all its messages?"), done)

    def action_export_chat(self) -> None:
        cid = self.conversation_id
        if cid is None:
            return
        folder = paths.data_dir() / "exports"
        try:
            md, js = self.controller.store.export_files(cid, folder)
        except OSError as exc:
            self.notify(
                f"Could not write the export into {folder} ({exc.strerror or exc}). "
                "Free some disk or make that folder writable, then press f5 again.",
                title="Export failed",
                severity="error",
            )
            return
        self.notify(f"{md}\n{js}", title="Exported to Markdown and JSON")

    def action_import_chat(self) -> None:
        async def done(path: str | None) -> None:
            if not path:
                return
            try:
                data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
                imported = self.controller.store.import_json(data)
            except (OSError, ValueError, HistoryError) as exc:
                self.notify(f"Could not import {path}: {exc}", severity="error")
                return
            title = imported.conversation.title
            await self.open(imported.conversation.id)
            if not imported.dropped:
                self.notify(f"Imported “{title}”.")
                return
            count = len(imported.dropped)
            rest = "Everything else is imported; a setting left out takes its default."
            self.notify(
                "\n".join([*imported.dropped, rest]),
                title=f"Imported “{title}”, leaving out {count} wrong value{'s' * (count > 1)}",
                severity="warning",
                timeout=20,
            )

        hint = str(paths.data_dir() / "exports")
        self.app.push_screen(TextPromptScreen("Import a chat from a JSON export", "", hint), done)

    def action_chat_settings(self) -> None:
        from .conversation_settings import ConversationSettings, ConversationSettingsScreen

        cid = self.conversation_id
        if cid is None:
            return
        conversation = self.controller.store.get(cid)
        defaults = self.controller.default_params()

        def done(result: ConversationSettings | None) -> None:
            if result is None:
                return
            store = self.controller.store
            store.set_system_prompt(cid, result.system_prompt)
            # what the dialog does not edit (the chat's tools) is kept
            fields = GenerationParams.__dataclass_fields__
            kept = {k: v for k, v in store.get(cid).params.items() if k not in fields}
            store.set_params(cid, {**kept, **result.params.to_dict()})
            self.update_context()
            self.notify("Chat settings saved; they apply from the next reply.")

        params = GenerationParams.from_dict(conversation.params)
        screen = ConversationSettingsScreen(
            conversation.title,
            conversation.system_prompt,
            params,
            defaults,
            thinking=self.controller.thinking,
        )
        self.app.push_screen(screen, done)

    def action_switch_model(self) -> None:
        items = self.controller.model_choices()  # local models and [[remote]] entries
        if not items:
            self.controller.setup_model()
            return
        current = self.controller.current_choice

        def switch(choice: str) -> None:
            if self.controller.queue.current is None:
                self.controller.switch_model(choice)
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.controller.switch_model(choice)

            self.app.push_screen(
                ConfirmScreen(
                    "Switching the model stops the reply being written (what it wrote is "
                    "kept). Switch now?",
                    yes="Switch",
                ),
                confirmed,
            )

        def done(choice: str | None) -> None:
            if choice and choice != current:
                switch(choice)

        self.app.push_screen(
            PickScreen("Switch model (loads in the background)", items, current), done
        )
