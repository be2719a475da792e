"""The body of ``POST {base_url}/chat/completions``: the messages and each parameter in the
words of the server that reads it.

Every server reads ``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stream`` and
``stream_options.include_usage``. Beyond those (names read from each server's sources):

- vLLM (``ChatCompletionRequest``): ``top_k``, ``repetition_penalty``, ``chat_template_kwargs``
  (Qwen3's ``enable_thinking``), ``continue_final_message`` with ``add_generation_prompt``.
- llama-server (``params_from_json_cmpl``, ``oaicompat_chat_params_parse``): ``top_k``,
  ``repeat_penalty``, ``chat_template_kwargs.enable_thinking`` (a JSON boolean); a last
  assistant message is continued (its "prefill assistant" default).
- qwen-tui's own ``serve`` (``qwen_tui/serve/request.py``): vLLM's names (``top_k``,
  ``repetition_penalty``, ``chat_template_kwargs``); a last assistant message is continued.
- ollama (``openai/openai.go``, ``FromChatRequest``): no top_k or repetition penalty through
  this API; ``reasoning_effort: "none"`` turns thinking off (``thinkFromReasoningEffort``);
  on is the model's default, so nothing is sent for it.
- any other server: the common fields, and ``chat_template_kwargs`` only when thinking is
  switched explicitly (SGLang and LM Studio read it; OpenAI itself would refuse it).

The thinking of earlier replies is never sent back: only each message's role and content, an
assistant message's ``tool_calls`` and a tool result's ``tool_call_id``.

Tools go as OpenAI's ``tools``, ``tool_choice`` as each server takes it: vLLM (with
``--enable-auto-tool-choice`` and a ``--tool-call-parser``), qwen-tui's ``serve`` and others
take all four choices; llama-server (``--jinja``) takes auto, none and required, not a named
tool, so that one goes as the only tool, required; it calls one tool at a time unless
``parallel_tool_calls`` is sent (it is). ollama reads no ``tool_choice``: a named tool goes as
the only tool, and the model decides. "none" sends no tools to any server (the model is not
told of them, as with the local engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..tools import tool_dicts
from ..types import ChatMessage, GenerationParams, NamedTool, ToolChoice, ToolSpec
from .server import LLAMA_CPP, OLLAMA, QWEN_TUI, VLLM


def chat_body(
    model: str,
    messages: list[ChatMessage],
    params: GenerationParams,
    flavor: str,
    continue_reply: bool = False,
    tools: Sequence[ToolSpec] = (),
    tool_choice: ToolChoice = "auto",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_body(m) for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body.update(tools_body(tools, tool_choice, flavor))
    common = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_new_tokens,
        "seed": params.seed,
    }
    body.update({k: v for k, v in common.items() if v is not None})
    if flavor in (VLLM, LLAMA_CPP, QWEN_TUI):
        if params.top_k is not None:
            body["top_k"] = params.top_k
        if params.repetition_penalty is not None:
            penalty = "repeat_penalty" if flavor == LLAMA_CPP else "repetition_penalty"
            body[penalty] = params.repetition_penalty
    if params.enable_thinking is not None:
        if flavor == OLLAMA:
            if not params.enable_thinking:
                body["reasoning_effort"] = "none"
        else:
            body["chat_template_kwargs"] = {"enable_thinking": params.enable_thinking}
    if continue_reply and flavor == VLLM:
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    return body


def message_body(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None  # OpenAI's shape for a message of calls only
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
    return out


def sent_tools(tools: Sequence[ToolSpec], choice: ToolChoice, flavor: str) -> list[ToolSpec]:
    """The tools a server is given (their calls are the ones read back)."""
    if choice == "none":
        return []
    if isinstance(choice, NamedTool) and flavor in (LLAMA_CPP, OLLAMA):
        return [tool for tool in tools if tool.name == choice.name]
    return list(tools)


def tools_body(tools: Sequence[ToolSpec], choice: ToolChoice, flavor: str) -> dict[str, Any]:
    given = sent_tools(tools, choice, flavor)
    if not given:
        return {}
    body: dict[str, Any] = {"tools": tool_dicts(given)}
    if flavor == LLAMA_CPP:
        body["tool_choice"] = "required" if isinstance(choice, NamedTool) else choice
        body["parallel_tool_calls"] = True  # its default is one call
    elif flavor != OLLAMA:
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}}
            if isinstance(choice, NamedTool)
            else choice
        )
    return body
