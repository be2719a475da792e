"""The tool fields of a chat completion request, checked one by one: ``tools``, ``tool_choice``,
``parallel_tool_calls``, an assistant message's ``tool_calls`` and a ``tool`` message's
``tool_call_id``. Each refusal is one sentence naming the field, as OpenAI's API refuses them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..engine.tools import schema_problem
from ..engine.types import ChatMessage, NamedTool, ToolCall, ToolChoice, ToolSpec
from ..text import is_utf8, quoted
from .errors import bad_request

MAX_TOOLS = 128  # OpenAI's limit
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule; it keeps <function=NAME> well formed
MAX_ID = 256


def parse_tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request("'tools' must be a list of functions.", "tools")
    if len(raw) > MAX_TOOLS:
        raise bad_request(f"'tools' takes at most {MAX_TOOLS} functions, not {len(raw)}.", "tools")
    tools: list[ToolSpec] = []
    for i, item in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(item, dict) or item.get("type") != "function":
            raise bad_request(
                f'{where} must be {{"type": "function", "function": {{...}}}}.', where
            )
        function = item.get("function")
        if not isinstance(function, dict):
            raise bad_request(f"{where}.function must be an object.", f"{where}.function")
        name = _name(function.get("name"), f"{where}.function.name")
        if any(tool.name == name for tool in tools):
            raise bad_request(f"{where}: two tools are named {name!r}.", f"{where}.function.name")
        description = function.get("description", "")
        if description is None:
            description = ""
        if not is_utf8(description):
            raise bad_request(
                f"{where}.function.description must be a string.", f"{where}.function.description"
            )
        parameters = function.get("parameters")
        parameters = {} if parameters is None else parameters
        problem = schema_problem(parameters, f"{where}.function.parameters")
        if problem:
            raise bad_request(f"{problem}.", f"{where}.function.parameters")
        tools.append(ToolSpec(name, description, parameters))
    return tuple(tools)


def parse_tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice:
    if raw is None:
        return "auto"
    if raw in ("auto", "none", "required"):
        if raw == "required" and not tools:
            raise bad_request("tool_choice 'required' needs 'tools' to choose from.", "tool_choice")
        return str(raw)
    function = raw.get("function") if isinstance(raw, dict) else None
    if not (isinstance(raw, dict) and raw.get("type") == "function" and isinstance(function, dict)):
        raise bad_request(
            "'tool_choice' must be auto, none, required or "
            '{"type": "function", "function": {"name": NAME}}.',
            "tool_choice",
        )
    name = function.get("name")
    if not any(tool.name == name for tool in tools):
        offered = ", ".join(tool.name for tool in tools) or "none"
        raise bad_request(
            f"tool_choice names {quoted(name)}, which is not in 'tools' ({offered}).",
            "tool_choice",
        )
    return NamedTool(str(name))


def assistant_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    """An assistant message's ``tool_calls``, as OpenAI returned them."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request(f"{where} must be a list of calls.", where)
    calls = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or item.get("type", "function") != "function":
            raise bad_request(f'{at} must be {{"id", "type": "function", "function"}}.', at)
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id or len(call_id) > MAX_ID:
            raise bad_request(f"{at}.id must be the call's id (a string).", f"{at}.id")
        function = item.get("function")
        if not isinstance(function, dict):
            raise bad_request(f"{at}.function must be an object.", f"{at}.function")
        name = _name(function.get("name"), f"{at}.function.name")
        arguments = function.get("arguments")
        if not _json_object(arguments):
            raise bad_request(
                f"{at}.function.arguments must be a JSON object written as a string.",
                f"{at}.function.arguments",
            )
        calls.append(ToolCall(call_id, name, str(arguments)))
    return tuple(calls)


def check_results(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Each ``tool`` message answers a call made before it (its ``name`` is that call's);
    each call is answered before the conversation goes on, as OpenAI requires."""
    out: list[ChatMessage] = []
    open_calls: dict[str, ToolCall] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role == "tool":
            call = open_calls.pop(message.tool_call_id, None)
            if call is None:
                raise bad_request(
                    f"{where}.tool_call_id {quoted(message.tool_call_id)} answers no tool call "
                    "of the assistant message before it.",
                    f"{where}.tool_call_id",
                )
            message = ChatMessage("tool", message.content, tool_call_id=call.id, name=call.name)
        elif open_calls:
            raise bad_request(
                f"{where}: the tool calls before it ({', '.join(open_calls)}) have no "
                "'tool' message answering them.",
                where,
            )
        if message.tool_calls:
            open_calls = {call.id: call for call in message.tool_calls}
        out.append(message)
    if open_calls:
        raise bad_request(
            f"The tool calls {', '.join(open_calls)} have no 'tool' message answering them.",
            f"messages[{len(messages) - 1}]",
        )
    return out


def _name(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not NAME.fullmatch(raw):
        raise bad_request(
            f"{where} must be 1 to 64 letters, digits, underscores or dashes, not {quoted(raw)}.",
            where,
        )
    return raw


def _json_object(text: Any) -> bool:
    if not is_utf8(text):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
