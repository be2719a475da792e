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

The thinking of earlier replies is never sent back: only each message's role and content.
"""

from __future__ import annotations

from typing import Any

from ..types import ChatMessage, GenerationParams
from .server import LLAMA_CPP, OLLAMA, QWEN_TUI, VLLM


def chat_body(
    model: str,
    messages: list[ChatMessage],
    params: GenerationParams,
    flavor: str,
    continue_reply: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
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
