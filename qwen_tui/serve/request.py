"""A chat completion request body, checked field by field, in the engine's vocabulary.

Every refusal is one sentence naming the field (the error's ``param``). Fields the server does
not know are ignored, as OpenAI-compatible servers do; fields it knows but cannot honour (a
second choice, log probabilities, JSON mode) are refused rather than silently dropped. The tool
fields are checked in ``tools.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..engine.generate.thinking import OPEN, split_reply
from ..engine.types import (
    ChatMessage,
    GenerationParams,
    NamedTool,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from ..text import is_utf8, quoted
from .errors import ApiError, bad_request
from .tools import assistant_calls, check_results, parse_tool_choice, parse_tools

MAX_STOPS = 4
MAX_STOP_CHARS = 256  # each stop string is matched against every piece of the reply
MAX_MESSAGES = 2048  # OpenAI's own limit
MAX_TOKENS = 2**31 - 1  # a count beyond any window; bigger ones are refused, not compared
# Below this a temperature divides the logits into infinities (1e-40) or is greedy in all but
# name: 0 asks for greedy. vLLM raises smaller temperatures to the same 0.01.
MIN_TEMPERATURE = 0.01
MIN_PENALTY = 0.01  # a penalty divides positive logits: 1e-40 would make them infinite
ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    params: GenerationParams  # max_new_tokens None: as many as the window leaves
    stream: bool = False
    include_usage: bool = False
    stops: tuple[str, ...] = ()
    continue_reply: bool = False  # the last message is an assistant reply to write on
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True  # False: only the first call a reply makes is kept

    @property
    def offered(self) -> tuple[ToolSpec, ...]:
        """The tools the model is told of ("none" tells it of none)."""
        return () if self.tool_choice == "none" else self.tools

    @property
    def forced(self) -> bool:
        """Whether the reply must call a tool (it opens with the call)."""
        return self.tool_choice == "required" or isinstance(self.tool_choice, NamedTool)


def parse_chat_request(body: Any) -> ChatRequest:
    """The request, or ApiError (400) with one sentence saying what is wrong."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required: the id of a model from GET /v1/models.", "model")
    messages = check_results(_messages(body.get("messages")))
    if messages[-1].role not in ("user", "assistant", "tool"):
        raise bad_request(
            "The last message must be the user's, a tool's result, or an assistant reply to "
            "continue.",
            "messages",
        )
    _refuse_unsupported(body)
    tools = parse_tools(body.get("tools"))
    tool_choice = parse_tool_choice(body.get("tool_choice"), tools)
    continue_reply = messages[-1].role == "assistant"
    if continue_reply and (tool_choice == "required" or isinstance(tool_choice, NamedTool)):
        raise bad_request(
            "A reply that continues an assistant message cannot be made to call a tool.",
            "tool_choice",
        )
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", "stream_options")
    kwargs = body.get("chat_template_kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise bad_request("'chat_template_kwargs' must be an object.", "chat_template_kwargs")
    max_tokens = _number(body, "max_completion_tokens", int, 1, MAX_TOKENS)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", int, 1, MAX_TOKENS)
    top_k = _number(body, "top_k", int, -1, MAX_TOKENS)  # vLLM's and llama-server's extension
    temperature = _number(body, "temperature", float, 0, 2)
    if temperature is not None and 0 < temperature < MIN_TEMPERATURE:
        raise bad_request(
            f"'temperature' must be 0 (greedy) or from {MIN_TEMPERATURE} to 2, "
            f"not {quoted(temperature)}.",
            "temperature",
        )
    params = GenerationParams(
        temperature=temperature,
        top_p=_number(body, "top_p", float, 0, 1),
        top_k=None if top_k == -1 else top_k,  # -1: off, as in vLLM
        repetition_penalty=_number(body, "repetition_penalty", float, MIN_PENALTY, 100),
        max_new_tokens=max_tokens,
        seed=_number(body, "seed", int, -(2**63), 2**64 - 1),
        enable_thinking=_flag(kwargs or {}, "enable_thinking", "chat_template_kwargs."),
    )
    return ChatRequest(
        model=model.strip(),
        messages=messages,
        params=params,
        stream=bool(_flag(body, "stream")),
        include_usage=bool(_flag(options or {}, "include_usage", "stream_options.")),
        stops=_stops(body.get("stop")),
        continue_reply=continue_reply,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=_flag(body, "parallel_tool_calls") is not False,
    )


def _messages(raw: Any) -> list[ChatMessage]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty list of messages.", "messages")
    if len(raw) > MAX_MESSAGES:
        raise bad_request(
            f"'messages' takes at most {MAX_MESSAGES} messages, not {len(raw)}.", "messages"
        )
    out: list[ChatMessage] = []
    for i, item in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object with a role and content.", where)
        role = item.get("role")
        if role == "function":
            raise bad_request(
                f"{where}: 'function' messages are the old API; send the result as a 'tool' "
                "message with its tool_call_id.",
                f"{where}.role",
            )
        if role not in ROLES:
            raise bad_request(
                f"{where}.role must be system, developer, user, assistant or tool, not "
                f"{quoted(role)}.",
                f"{where}.role",
            )
        content = _text(item.get("content"), f"{where}.content", role == "assistant")
        if role == "tool":
            call_id = item.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad_request(
                    f"{where}.tool_call_id must name the call this result answers.",
                    f"{where}.tool_call_id",
                )
            out.append(ChatMessage("tool", content, tool_call_id=call_id))
            continue
        reasoning = ""
        calls: tuple[ToolCall, ...] = ()
        if role == "assistant":
            calls = assistant_calls(item.get("tool_calls"), f"{where}.tool_calls")
            given = item.get("reasoning_content", item.get("reasoning"))
            if given is not None and not is_utf8(given):
                raise bad_request(f"{where}.reasoning_content must be a string.", where)
            if given:
                reasoning = given
            elif content.lstrip("\n").startswith(OPEN):  # kept whole: "<think>…</think>answer"
                reasoning, content = split_reply(content)
        out.append(ChatMessage(ROLES[role], content, reasoning=reasoning, tool_calls=calls))
    return out


def _text(content: Any, where: str, may_be_empty: bool) -> str:
    """A message's text: a string, or a list of text parts (as editors send it)."""
    if content is None and may_be_empty:
        return ""
    if isinstance(content, list):
        pieces = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                raise bad_request(
                    f"{where}: only text parts are supported, not {quoted(kind or part)}.", where
                )
            pieces.append(part["text"])
        content = "".join(pieces)
    if not isinstance(content, str):
        raise bad_request(f"{where} must be a string or a list of text parts.", where)
    if not is_utf8(content):
        raise bad_request(f"{where} is not valid Unicode (it has a lone surrogate).", where)
    return content


def _refuse_unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request("'n' must be 1: qwen-tui serve writes one reply per request.", "n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad_request("Log probabilities are not supported.", "logprobs")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type", "text") != "text":
        raise bad_request(
            f"response_format {response_format.get('type')!r} is not supported; only text.",
            "response_format",
        )


def _number(
    body: dict[str, Any],
    name: str,
    kind: type,
    low: float,
    high: float | None,
) -> Any:
    """``body[name]`` if it is a number of ``kind`` from ``low`` to ``high``; None if absent.

    JSON's NaN and Infinity (which Python's json reads) and numbers too big for a float are
    refused like any other out of range: the bounds are compared before any conversion."""
    value = body.get(name)
    if value is None:
        return None
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    whole = isinstance(value, int) or (finite and float(value).is_integer())
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not whole):
        noun = "a whole number" if kind is int else "a number"
        raise bad_request(f"'{name}' must be {noun}, not {quoted(value)}.", name)
    if not finite or value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"from {low} to {high}"
        raise bad_request(f"'{name}' must be {bound}, not {quoted(value)}.", name)
    return kind(value)


def _flag(body: dict[str, Any], name: str, prefix: str = "") -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"'{prefix}{name}' must be true or false.", prefix + name)
    return value


def _stops(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad_request("'stop' must be a string or a list of strings.", "stop")
    if len(stops) > MAX_STOPS:
        raise bad_request(f"'stop' takes at most {MAX_STOPS} strings.", "stop")
    if any(len(s) > MAX_STOP_CHARS for s in stops):
        raise bad_request(f"Each 'stop' string takes at most {MAX_STOP_CHARS} characters.", "stop")
    return tuple(s for s in stops if s)


def check_model(request: ChatRequest, ids: tuple[str, ...]) -> None:
    """404 unless the request names the loaded model (by one of its ``ids``)."""
    if request.model not in ids:
        raise ApiError(
            404,
            f"The model {quoted(request.model)} does not exist here; this server has '{ids[0]}'.",
            param="model",
            code="model_not_found",
        )
