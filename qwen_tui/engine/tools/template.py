"""What a chat template is given for tools, and the opening of a reply that must call one.

Tools reach the model through its own chat template, as transformers, vLLM and llama.cpp pass
them: ``tools`` in OpenAI's shape (``[{"type": "function", "function": {...}}]``), assistant
messages with ``tool_calls`` (arguments as an object: Qwen2.5's and Qwen3.5's templates read
them as one), ``tool`` messages with their ``tool_call_id``. Qwen2.5's and Qwen3's templates
put the tools in the system turn as JSON and teach ``<tool_call>{json}</tool_call>``; Qwen3.5's
and Qwen3-Coder's teach the XML form (``<function=NAME>``). A template that mentions neither
cannot call tools (Qwen2's and Qwen1.5's, and Qwen-1, which has no template).

``tool_choice`` (``"auto"``, ``"none"``, ``"required"``, or ``NamedTool``) is honoured here:
"none" renders no tools (the model is not told of them) and reads no calls; "required" and a
named tool open the reply with the call's first characters (the engine continues that reply),
so the model can only go on writing the call: the tool's name too when one tool is named or
offered, else the model writes the name of one of them. A named tool is called once: the reply
ends as soon as its call is written (a small model may ramble on after it instead of closing
the tag).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import EngineError
from ..types import ChatMessage, NamedTool, ToolChoice, ToolSpec
from .parse import CALL_OPEN, FUNCTION_OPEN

JSON_FORM, XML_FORM = "json", "xml"
CHOICES = ("auto", "none", "required")


class ToolsNotSupported(EngineError):
    """The model's chat template has no tool calls (or the request asks what cannot be)."""


def tool_format(template: str | None) -> str:
    """How the template teaches calls: "json", "xml", or "" (it does not)."""
    if not template or "tools" not in template:
        return ""
    if FUNCTION_OPEN in template:
        return XML_FORM
    if CALL_OPEN in template:
        return JSON_FORM
    return ""


def uses_tools(messages: Sequence[ChatMessage]) -> bool:
    """Whether the conversation holds calls or their results (which only a template with
    tools can render)."""
    return any(m.tool_calls or m.role == "tool" for m in messages)


def tool_dicts(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """``tools`` as OpenAI's request carries them (and chat templates read them)."""
    out = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out


def message_dict(message: ChatMessage) -> dict[str, Any]:
    """A message as chat templates read it."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.reasoning:  # the template decides where thinking goes back (Qwen3: not past turns)
        out["reasoning_content"] = message.reasoning
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
        if message.name:
            out["name"] = message.name
    return out


def _arguments(text: str) -> Any:
    """A call's arguments as the object they spell (templates write them out themselves)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


@dataclass(frozen=True)
class ToolPlan:
    """What a reply does with its tools: which the template is given, which calls are read,
    and how the reply opens (a forced call's first characters)."""

    tools: tuple[ToolSpec, ...] = ()  # rendered and read; () when no calls are read
    prefill: str = ""
    one_call: bool = False  # a named tool: the reply ends once its call is written

    @property
    def active(self) -> bool:
        return bool(self.tools)


def plan_tools(
    tools: Sequence[ToolSpec], choice: ToolChoice, form: str, continue_reply: bool = False
) -> ToolPlan:
    """The plan for ``tools`` under ``choice``, on a template of ``form``; EngineError when the
    choice cannot be honoured (a named tool not offered, "required" without tools ...)."""
    named = choice.name if isinstance(choice, NamedTool) else ""
    if not named and choice not in CHOICES:
        raise EngineError(
            f"tool_choice must be auto, none, required or a tool's name, not {choice!r}.",
            "Pick one of those.",
        )
    if choice == "none" or (not tools and choice == "auto"):
        return ToolPlan()
    if not tools:
        raise EngineError("A tool call is required, but no tools were given.", "Give tools.")
    names = [tool.name for tool in tools]
    if named and named not in names:
        raise EngineError(
            f"tool_choice names {named!r}, which is not among the tools ({', '.join(names)}).",
            "Name one of the tools given.",
        )
    if not form:
        raise ToolsNotSupported(
            "This model's chat template has no tool calls.",
            "Use a model trained for them (Qwen2.5, Qwen3, Qwen3.5), or send no tools.",
        )
    if choice == "auto":
        return ToolPlan(tuple(tools))
    if continue_reply:
        raise EngineError(
            "A reply that continues a message cannot be made to call a tool.",
            "Use tool_choice auto, or start a new reply.",
        )
    forced = named or (names[0] if len(names) == 1 else "")
    return ToolPlan(tuple(tools), call_opening(form, forced), one_call=bool(named))


def call_opening(form: str, name: str = "") -> str:
    """The first characters of a call, as the template of ``form`` teaches it: up to the
    arguments when the tool's ``name`` is given, else up to the name. It ends where the
    tokenizer would end a token in the whole call (``"arguments":``, not after the space: a
    lone space token, which the model never saw there, made Qwen2.5-Coder-0.5B write
    ``"arguments": 1`` in 5 of 20 replies)."""
    if form == XML_FORM:
        return f"{CALL_OPEN}\n{FUNCTION_OPEN}{name}>\n" if name else f"{CALL_OPEN}\n{FUNCTION_OPEN}"
    if name:
        return f'{CALL_OPEN}\n{{"name": {json.dumps(name, ensure_ascii=False)}, "arguments":'
    return f'{CALL_OPEN}\n{{"name": "'
