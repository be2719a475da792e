"""A reply that may call the chat's MCP tools, as the reply queue writes it.

The chat's servers are started (or found running), their tools offered, and the reply goes
through ``tool_loop.run_tool_loop``. Everything is saved as it happens, so a crash loses at
most a second of text: each round of the reply is an assistant message saved while it
streams, completed with the calls it makes (and the server each goes to), and each call's
result is a "tool" message saved as soon as it is known. Whoever shows the reply hears of it
all through events (``events.py``); asking the user about a call is one of them
(``ToolApprovalAsked``), whose answer the reply waits for, or for a stop.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, cast

from ..engine.tools import ToolsNotSupported
from ..engine.types import ChatMessage, Engine, GenerationParams, Reply, ToolCall, ToolSpec
from ..history import Message
from .chat_tools import ChatRunner, ChatTools
from .events import (
    ReplyChunk,
    ReplyEvent,
    ReplyStarted,
    ToolActivity,
    ToolApprovalAsked,
    ToolCallsMade,
    ToolNotice,
    ToolResultSaved,
)
from .service import ChatService, ReplyOutcome, Streamed, cache_key, failure, reply_stats
from .tool_loop import run_tool_loop
from .tools import Approval, ToolOrigin

Emit = Callable[[ReplyEvent], None]


def reply_with_tools(
    service: ChatService,
    tools: ChatTools,
    conversation_id: int,
    engine: Engine,
    servers: Sequence[str],
    *,
    emit: Emit,
    cancel: threading.Event,
    plain: Callable[[], ReplyOutcome],
) -> ReplyOutcome:
    """Answer the chat's last message with the tools of ``servers`` offered; ``plain`` writes
    the reply without tools when none of them could start, or the model cannot be given any
    (each reason is a ToolNotice)."""
    cid = conversation_id
    if any(_state(tools, name) != "ready" for name in servers):
        emit(ToolActivity(cid, "starting tools"))
    try:
        statuses = tools.start(servers, cancel)
    except RuntimeError as exc:  # closed: the app is quitting
        return ReplyOutcome(-1, None, str(exc))
    finally:
        emit(ToolActivity(cid, ""))
    if statuses is None:  # stopped while they started: nothing was written
        return ReplyOutcome(-1, None, between_rounds=True)
    for status in statuses:
        if status.state != "ready":
            emit(ToolNotice(cid, f"MCP server {status.line()}; this reply goes on without it."))
    specs = tools.specs(servers)
    if not specs or not _can_offer(engine, specs, lambda text: emit(ToolNotice(cid, text))):
        return plain()
    params = service.reply_params(cid)
    max_steps = service.settings().tool_steps
    rounds = _Rounds(service, engine, cid, params, emit, max_steps)
    runner = tools.runner(servers)

    def approve(call: ToolCall, origin: ToolOrigin) -> Approval:
        return ask(emit, cid, call, origin, cancel)

    def running(call: ToolCall, origin: ToolOrigin) -> None:
        emit(ToolActivity(cid, f"running {origin.server} · {origin.tool}"))

    try:
        outcome = run_tool_loop(
            cast(Engine, rounds),  # it only chats
            service.prompt_messages(cid),
            specs,
            runner,
            approve,
            params=params,
            max_steps=max_steps,
            always=tools.always(cid),
            cancel=cancel,
            cache_key=cache_key(cid),
            on_message=lambda message: rounds.save(message, runner),
            on_call=running,
        )
    except Exception as exc:  # a failing backend must not lose the conversation
        if isinstance(exc, KeyError) and not _exists(service, cid):
            return ReplyOutcome(rounds.message_id, None, gone=True)  # deleted meanwhile
        rounds.failed()
        return ReplyOutcome(rounds.message_id, None, failure(exc))
    if outcome.messages and outcome.messages[-1].role == "tool":
        return ReplyOutcome(rounds.message_id, outcome.reply, between_rounds=True)
    limit = max_steps if outcome.ended == "step_limit" else 0
    return ReplyOutcome(
        rounds.message_id, outcome.reply, thinking_seconds=rounds.seconds, tool_limit=limit
    )


def ask(
    emit: Emit, cid: int, call: ToolCall, origin: ToolOrigin, cancel: threading.Event
) -> Approval:
    """Ask whoever shows the reply about a call and wait for the answer; a stop meanwhile is a
    refusal (and cancels the question)."""
    answer: Future[Approval] = Future()
    emit(ToolApprovalAsked(cid, call, origin, answer))
    while True:
        try:
            return answer.result(timeout=0.05)
        except TimeoutError:
            if cancel.is_set():
                answer.cancel()
                return Approval.REFUSE


def _can_offer(engine: Engine, specs: Sequence[ToolSpec], say: Callable[[str], None]) -> bool:
    """Whether the model can be given tools; if not, ``say`` why (its chat template has no
    tool calls: Qwen-1, a template without them)."""
    try:
        engine.tool_tokens(specs)
    except ToolsNotSupported as exc:
        say(f"{exc.message} This reply goes on without tools; f12 switches them off.")
        return False
    return True


def _state(tools: ChatTools, name: str) -> str:
    status = tools.status(name)
    return status.state if status is not None else "not started"


def _exists(service: ChatService, conversation_id: int) -> bool:
    try:
        service.store.get(conversation_id)
    except KeyError:
        return False
    return True


class _Rounds:
    """The engine as the tool loop calls it: each round of the reply gets its own assistant
    message, saved while it streams (``Streamed``) and told to ``emit`` as a reply of its own;
    ``save`` completes it, and stores each tool result, as the loop adds them."""

    def __init__(
        self,
        service: ChatService,
        engine: Engine,
        conversation_id: int,
        params: GenerationParams,
        emit: Emit,
        max_steps: int,
    ) -> None:
        self.store, self.engine, self.cid = service.store, engine, conversation_id
        self.params, self.emit, self.max_steps = params, emit, max_steps
        self.forced = False  # the last round: its rounds used up, the model must answer
        self.placeholder: Message | None = None
        self.live: Streamed | None = None
        self.reply: Reply | None = None
        self.seconds: float | None = None  # how long the last round thought

    @property
    def message_id(self) -> int:
        return self.placeholder.id if self.placeholder is not None else -1

    def chat(self, messages: list[ChatMessage], params: Any = None, **options: Any) -> Reply:
        placeholder = self.store.add_message(self.cid, "assistant", "", state="streaming")
        self.placeholder, self.reply = placeholder, None
        self.emit(ReplyStarted(self.cid, placeholder.id))
        live = self.live = Streamed(self.store, placeholder.id, "", "")

        def text(piece: str) -> None:
            live.add(piece, reasoning=False)
            self.emit(ReplyChunk(self.cid, piece))

        def thought(piece: str) -> None:
            live.add(piece, reasoning=True)
            self.emit(ReplyChunk(self.cid, piece, reasoning=True))

        options.update(on_text=text, on_reasoning=thought)
        self.forced = options.get("tool_choice") == "none"
        self.reply = self.engine.chat(messages, params, **options)
        self.seconds = live.thinking_seconds()
        return self.reply

    def save(self, message: ChatMessage, runner: ChatRunner) -> None:
        """Store what the loop added: a round's message (in its placeholder) or a result."""
        if message.role == "tool":
            saved = self.store.add_message(
                self.cid,
                "tool",
                message.content,
                tool_call_id=message.tool_call_id,
                tool_name=message.name,
            )
            self.emit(ToolResultSaved(self.cid, saved))
            return
        placeholder, reply = self.placeholder, self.reply
        assert placeholder is not None and reply is not None  # saved after its round
        servers = {}
        for call in message.tool_calls:
            origin = runner.origin(call.name)
            if origin is not None:
                servers[call.id] = origin.server
        stats = reply_stats(self.engine, reply, self.params)
        if self.seconds is not None:
            stats["thinking_seconds"] = self.seconds
        if self.forced:
            stats["tool_limit"] = self.max_steps
        changes: dict[str, Any] = {
            "content": message.content,
            "reasoning": message.reasoning,
            "state": "stopped" if reply.stopped else "complete",
            "stats": stats,
            "token_ids": message.token_ids or None,
        }
        self.store.update_message(
            placeholder.id, tool_calls=message.tool_calls, tool_servers=servers, **changes
        )
        if message.tool_calls:
            saved = dataclasses.replace(
                placeholder, tool_calls=message.tool_calls, tool_servers=servers, **changes
            )
            self.emit(ToolCallsMade(self.cid, saved))

    def failed(self) -> None:
        """The round being written raised: what it wrote is kept, marked failed."""
        if self.live is not None and self.reply is None:
            self.live.save(state="error")
