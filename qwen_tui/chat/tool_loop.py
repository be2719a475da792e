"""A reply that may call tools: ask the model with the tools offered; when it calls some, ask
the user about each (run once, always for this tool in this conversation, or refuse), run the
allowed ones, give the model their results, and ask again, until it answers or has used up
its rounds (``tool_steps`` in the settings). Then it is asked once more with
``tool_choice="none"``, so the reply ends in an answer.

Synchronous: run it on a worker thread (the app) or the main thread (``ask``). ``cancel``
stops it at any point: the reply being written stops as any reply does, a call being run is
abandoned, and the calls not run are answered "Not run: stopped." so the conversation stays
well formed (every call has its "tool" message). Every message it adds is handed to
``on_message`` as it is added, for the UI and the history::

    outcome = run_tool_loop(
        engine, messages, client.tool_specs(["files"]), client, approve,
        max_steps=settings.tool_steps, always=chat_always, cancel=event,
        on_text=show_answer, on_message=store, on_step=show_call_and_result,
    )
    outcome.ended   # "answered", "step_limit" or "stopped"
    outcome.messages  # what was added: assistant messages with tool_calls, "tool" results, answer
    outcome.steps   # each call: its origin, what the user said, its result
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine.types import (
    ChatMessage,
    Engine,
    GenerationParams,
    Reply,
    TextCallback,
    ToolCall,
    ToolSpec,
)
from .tools import Approval, ToolOrigin, ToolResult, ToolRunner

Approve = Callable[[ToolCall, ToolOrigin], Approval]
REFUSED = "The user did not allow this call."
NOT_RUN = "Not run: stopped."


@dataclass(frozen=True)
class ToolStep:
    """One call the model made and what became of it."""

    call: ToolCall
    origin: ToolOrigin | None  # None: no server offers a tool of that name
    approval: Approval | None  # None: not asked (an unknown tool, bad arguments, stopped)
    result: ToolResult


@dataclass
class ToolLoopOutcome:
    reply: Reply  # the model's last reply (the answer, unless stopped)
    messages: list[ChatMessage] = field(default_factory=list)  # what the loop added, in order
    steps: list[ToolStep] = field(default_factory=list)
    ended: str = "answered"  # "answered" | "step_limit" | "stopped"


def takes_tools(engine: Engine) -> bool:
    """Whether ``engine.chat`` can be given tools (every engine can, once issue 25's engine
    work is in; until then a caller says so instead of failing in the call)."""
    try:
        return "tools" in inspect.signature(engine.chat).parameters
    except (TypeError, ValueError):
        return True  # a signature we cannot read: let the call say


def tool_message(call: ToolCall, result: ToolResult) -> ChatMessage:
    """The "tool" message that answers ``call``; a failure reads "Error: ..." to the model."""
    said_so = result.ok or result.text.lower().startswith("error")
    text = result.text if said_so else f"Error: {result.text}"
    return ChatMessage("tool", text, tool_call_id=call.id, name=call.name)


def run_tool_loop(
    engine: Engine,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec],
    runner: ToolRunner,
    approve: Approve,
    *,
    params: GenerationParams | None = None,
    max_steps: int = 8,
    always: set[str] | None = None,
    cancel: threading.Event | None = None,
    cache_key: str | None = None,
    on_text: TextCallback | None = None,
    on_reasoning: TextCallback | None = None,
    on_message: Callable[[ChatMessage], None] | None = None,
    on_call: Callable[[ToolCall, ToolOrigin], None] | None = None,
    on_step: Callable[[ToolStep], None] | None = None,
) -> ToolLoopOutcome:
    """Let the model call ``tools`` (run by ``runner``) until it answers; ``always`` holds the
    names of the tools the user allowed for the whole conversation (the loop adds to it).
    ``on_call`` hears of an allowed call as it starts, ``on_step`` of each call once done."""
    cancel = cancel or threading.Event()
    always = always if always is not None else set()
    history = list(messages)
    outcome: ToolLoopOutcome | None = None
    added: list[ChatMessage] = []
    steps: list[ToolStep] = []

    def add(message: ChatMessage) -> None:
        history.append(message)
        added.append(message)
        if on_message is not None:
            on_message(message)

    rounds = 0
    while outcome is None:
        last = rounds >= max_steps
        # ``tools``/``tool_choice`` go through **: Engine.chat gains them with issue 25's engine
        options: dict[str, Any] = {"tools": tuple(tools)}
        if last:
            options["tool_choice"] = "none"  # the rounds are used up: the model must answer
        reply = engine.chat(
            history,
            params,
            on_text=on_text,
            on_reasoning=on_reasoning,
            cancel=cancel,
            cache_key=cache_key,
            **options,
        )
        calls = () if last or reply.stopped else reply.tool_calls
        add(
            ChatMessage(
                "assistant",
                reply.text,
                token_ids=reply.token_ids or None,
                reasoning=reply.reasoning,
                tool_calls=calls,
            )
        )
        if reply.stopped:
            outcome = ToolLoopOutcome(reply, ended="stopped")
        elif not calls:
            outcome = ToolLoopOutcome(reply, ended="step_limit" if last else "answered")
        else:
            rounds += 1
            for call in calls:
                step = _run_call(call, runner, approve, always, cancel, on_call)
                steps.append(step)
                if on_step is not None:
                    on_step(step)
                add(tool_message(call, step.result))
            if cancel.is_set():
                outcome = ToolLoopOutcome(reply, ended="stopped")
    outcome.messages, outcome.steps = added, steps
    return outcome


def _run_call(
    call: ToolCall,
    runner: ToolRunner,
    approve: Approve,
    always: set[str],
    cancel: threading.Event,
    on_call: Callable[[ToolCall, ToolOrigin], None] | None,
) -> ToolStep:
    if cancel.is_set():
        return ToolStep(call, runner.origin(call.name), None, ToolResult(NOT_RUN, ok=False))
    origin = runner.origin(call.name)
    if origin is None:
        return ToolStep(call, None, None, ToolResult(f"There is no tool {call.name}.", ok=False))
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        bad = ToolResult(f"The arguments of {call.name} are not a JSON object.", ok=False)
        return ToolStep(call, origin, None, bad)
    if call.name in always:
        approval = Approval.ALWAYS
    else:
        approval = approve(call, origin)
        if approval is Approval.ALWAYS:
            always.add(call.name)
    if cancel.is_set():
        return ToolStep(call, origin, approval, ToolResult(NOT_RUN, ok=False))
    if approval is Approval.REFUSE:
        return ToolStep(call, origin, approval, ToolResult(REFUSED, ok=False))
    if on_call is not None:
        on_call(call, origin)
    return ToolStep(call, origin, approval, runner.call(call.name, arguments, cancel=cancel))
