"""One function call as a Qwen model writes it, read and checked against the tools offered.

Two forms, and a model may write either whatever its template taught (we read both):

- JSON (Qwen2.5, Qwen3)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

- XML (Qwen3.5, Qwen3-Coder), each value as text, typed here by the tool's schema::

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    </function>
    </tool_call>

  (also without the ``<tool_call>`` wrapper, as Qwen3-Coder sometimes writes it).

A call is well formed when it reads, names a tool offered and its arguments match that
tool's ``parameters`` (``schema.py``); anything else is a reason, and the text stays text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ..types import ToolCall, ToolSpec
from .schema import coerce, mismatch

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
FUNCTION_OPEN, FUNCTION_CLOSE = "<function=", "</function>"
OPENERS = (CALL_OPEN, FUNCTION_OPEN)
CLOSER = {CALL_OPEN: CALL_CLOSE, FUNCTION_OPEN: FUNCTION_CLOSE}

_FUNCTION = re.compile(r"<function=([^>\n]+)>(.*?)(?:</function>\s*)?\Z", re.DOTALL)
_PARAMETER = re.compile(r"<parameter=([^>\n]+)>(.*?)</parameter>", re.DOTALL)


def new_call_id() -> str:
    """An id as OpenAI writes them: ``call_`` and 24 letters and digits."""
    return "call_" + uuid.uuid4().hex[:24]


def read_call(block: str, tools: Mapping[str, ToolSpec]) -> tuple[ToolCall | None, str]:
    """(the call, "") for a well-formed block (from its opening tag to its closing one, or to
    the end of the reply), else (None, why not)."""
    text = block.strip()
    if text.startswith(CALL_OPEN):
        text = text[len(CALL_OPEN) :]
        if text.rstrip().endswith(CALL_CLOSE):
            text = text.rstrip()[: -len(CALL_CLOSE)]
        text = text.strip()
    if text.startswith(FUNCTION_OPEN):
        name, arguments, why = _read_xml(text, tools)
    elif text.startswith("{"):
        name, arguments, why = _read_json(text)
    else:
        return None, "the call is neither JSON nor <function=...>"
    if why:
        return None, why
    tool = tools.get(name)
    if tool is None:
        return None, f"there is no tool {name!r}"
    if not isinstance(arguments, dict):
        return None, f"{name}: the arguments are not an object"
    problem = mismatch(arguments, tool.parameters) if tool.parameters else None
    if problem:
        return None, f"{name}: {problem}"
    return ToolCall(new_call_id(), name, json.dumps(arguments, ensure_ascii=False)), ""


def _read_json(text: str) -> tuple[str, Any, str]:
    try:
        call = json.loads(text)
    except ValueError as exc:
        return "", None, f"the call is not valid JSON ({exc.args[0] if exc.args else exc})"
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return "", None, 'the call has no "name"'
    arguments = call.get("arguments", call.get("parameters", {}))
    if isinstance(arguments, str):  # some models write the arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return "", None, "the arguments are not valid JSON"
    return call["name"], arguments, ""


def _read_xml(text: str, tools: Mapping[str, ToolSpec]) -> tuple[str, Any, str]:
    match = _FUNCTION.match(text)
    if match is None:
        return "", None, "the <function=NAME> tag is malformed"
    name, body = match.group(1).strip(), match.group(2)
    tool = tools.get(name)
    properties = (tool.parameters.get("properties") if tool else None) or {}
    arguments: dict[str, Any] = {}
    end = 0
    for parameter in _PARAMETER.finditer(body):
        if body[end : parameter.start()].strip():
            return name, None, "text between the parameters"
        end = parameter.end()
        key, raw = parameter.group(1).strip(), parameter.group(2)
        raw = raw[1:] if raw.startswith("\n") else raw
        raw = raw[:-1] if raw.endswith("\n") else raw
        value, ok = coerce(raw, properties.get(key) if isinstance(properties, dict) else None)
        if not ok:
            return name, None, f"{name}: {key} is not of its schema's type ({raw[:40]!r})"
        arguments[key] = value
    if body[end:].strip():
        return name, None, "text after the parameters"
    return name, arguments, ""
