"""The chat's tools: f12 (chat_tools) switches its MCP servers on and off (``tools_dialog``),
opening a chat with tools on starts its servers, and a reply's tool events show in the chat:
the calls of each round (``widgets/tool_call.py``), the question before a call runs
(``tool_approval``), each result folded under its call, a server that failed as one line.

``ChatScreen`` (``chat.py``) is built on these actions; they are built on ``AttachActions``."""

from __future__ import annotations

from collections.abc import Iterable

from textual.message import Message as TextualMessage

from ...chat import events
from ...chat.chat_tools import chosen_servers, set_chosen_servers
from ...chat.tools import Approval
from ...errors import QwenTuiError
from ...history import Message
from ..widgets.chat_view import Note
from ..widgets.tool_call import ToolCallView, ToolResultView, ToolViews
from .chat_attach import AttachActions
from .tool_approval import ToolApprovalScreen, give
from .tools_dialog import ServerRow, ToolsScreen

ACTIVITY_STATES = {"starting tools": "starting tools", "": "generating"}  # else "running a tool"


class ToolsStarted(TextualMessage):
    """Servers a chat needs have started, or failed to (posted by the worker that started
    them): the context meter and the tools dialog say so."""


class ToolActions(AttachActions):
    async def action_chat_tools(self) -> None:
        """Switch the chat's MCP servers on and off (a new chat is made if none is open)."""
        controller = self.controller
        tools = controller.tools
        if controller.read_only:
            self.notify(f"Not changed: {controller.read_only}.", severity="warning")
            return
        if not tools.entries:
            self.notify(
                "No MCP servers are configured. Add [[mcp]] tables to config.toml (see the "
                "README's “MCP servers”), then start qwen-tui again.",
                title="No tools to switch on",
                severity="warning",
                timeout=15,
            )
            return
        if self.conversation_id is None:
            self.conversation_id = controller.store.create().id
            await self.chat_view.show(self.conversation_id, [])
            self.refresh_sidebar()
        cid = self.conversation_id
        conversation = controller.store.get(cid)

        def done(chosen: tuple[str, ...] | None) -> None:
            if chosen is None:
                return
            set_chosen_servers(controller.store, cid, chosen)
            self.start_tools(chosen)
            if self.conversation_id == cid:
                self.update_context()
            if chosen:
                self.notify(f"Tools on for this chat: {', '.join(chosen)}.", title="Tools")
            else:
                self.notify("Tools off for this chat.", title="Tools")

        rows = self.server_rows()
        chosen = chosen_servers(conversation.params)
        screen = ToolsScreen(conversation.title, rows, chosen, self.start_tools)
        self.app.push_screen(screen, done)

    def server_rows(self) -> list[ServerRow]:
        """Every configured server: its state, its tools and their tokens."""
        tools, engine = self.controller.tools, self.controller.engine
        rows = []
        for entry in tools.entries.values():
            status = tools.status(entry.name)
            if status is None:
                rows.append(ServerRow(entry.name, entry.where(), entry.enabled, "not started"))
                continue
            tokens = None
            if status.state == "ready" and engine is not None and engine.info is not None:
                try:
                    tokens = engine.tool_tokens(status.tools)
                except QwenTuiError:  # a chat template without tool calls
                    tokens = None
            rows.append(
                ServerRow(
                    *(entry.name, entry.where(), entry.enabled, status.state, status.detail),
                    tools=len(status.tools),
                    tokens=tokens,
                )
            )
        return rows

    def start_tools(self, names: Iterable[str]) -> None:
        """Start the servers among ``names`` not running yet, in the background."""
        tools = self.controller.tools
        if self.controller.read_only:
            return
        wanted = []
        for name in tools.usable(names):
            status = tools.status(name)
            if status is None or status.state not in ("ready", "starting"):
                wanted.append(name)
        if not wanted:
            return

        def start() -> None:
            try:
                tools.start(wanted)
            except RuntimeError:  # closed: the app is quitting
                return
            self.post_message(ToolsStarted())

        self.run_worker(start, thread=True, group="tools", name="start tools")

    def on_tools_started(self, message: ToolsStarted) -> None:
        self.update_context()
        if isinstance(self.app.screen, ToolsScreen):
            self.app.screen.show_rows(self.server_rows())

    async def open(self, conversation_id: int | None) -> None:
        await super().open(conversation_id)
        if conversation_id is not None:  # its tools are ready by the time it is answered
            controller = self.controller
            self.start_tools(controller.tools.servers_of(controller.store, conversation_id))

    # -- a reply's tool events (from the app) ------------------------------------
    async def tool_event(self, event: events.ToolEvent) -> None:
        here = event.conversation_id == self.conversation_id
        if isinstance(event, events.ToolApprovalAsked):
            self.ask_approval(event)
        elif isinstance(event, events.ToolActivity):
            self.status.state = ACTIVITY_STATES.get(event.what, "running a tool")
        elif isinstance(event, events.ToolNotice) and here:
            await self.add_note(event.text, error=True)
        elif isinstance(event, events.ToolCallsMade) and here:
            await self.show_calls(event.message)
        elif isinstance(event, events.ToolResultSaved) and here:
            await self.show_result(event.message)

    def ask_approval(self, event: events.ToolApprovalAsked) -> None:
        if event.answer.done():  # the reply stopped before the question got here
            return
        try:
            title = self.controller.store.get(event.conversation_id).title
        except KeyError:
            title = ""
        self.status.state = "asking you"

        def done(approval: Approval | None) -> None:
            if event.answer.cancelled():  # the reply stopped: nothing to answer
                return
            if approval is None:  # Esc: refuse, and stop the reply
                self.controller.queue.stop_current()
                approval = Approval.REFUSE
            give(event.answer, approval)

        screen = ToolApprovalScreen(title, event.call, event.origin, event.answer)
        self.app.push_screen(screen, done)

    async def show_calls(self, message: Message) -> None:
        """A round that called tools, whole, in the streaming reply's place."""
        shown = {view.call_id for view in self.chat_view.query(ToolCallView)}
        if any(call.id in shown for call in message.tool_calls):
            return  # the chat was opened since, from the history
        views = ToolViews().calls_of(message)
        await self.chat_view.finish_reply(
            message.content, message.state, message.stats, None, message.reasoning, views
        )

    async def show_result(self, message: Message) -> None:
        """A call's result, folded under its call (alone if its call is not shown)."""
        for view in self.chat_view.query(ToolCallView):
            if view.call_id == message.tool_call_id:
                await view.show_result(message.content)
                return
        await self.chat_view.mount(ToolResultView(message.content))

    async def add_note(self, text: str, error: bool = False) -> None:
        """One line in the chat, not stored."""
        await self.chat_view.mount(Note(text, classes="error" if error else ""))
