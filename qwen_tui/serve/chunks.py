"""The response bodies, shaped as OpenAI's: a chat completion, its stream chunks, usage.

Thinking goes in ``reasoning_content`` (as vLLM, llama-server and DeepSeek send it), apart from
the answer's ``content``. Calls go in ``tool_calls`` (``content`` null when there is no text);
streamed, each call is two chunks, as OpenAI sends them: its index, id, type and name with
empty arguments, then its arguments. ``timings`` is llama-server's extra field: how long the
prompt and the reply took, for clients that show speed.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..engine.types import ReplyStats, ToolCall

FINGERPRINT = f"qwen-tui-{__version__}"


@dataclass(frozen=True)
class Completion:
    """What every chunk of one reply shares."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
        }

    def whole(
        self,
        text: str,
        reasoning: str,
        finish: str,
        stats: ReplyStats,
        calls: tuple[ToolCall, ...] = (),
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in calls
            ]
        return {
            **self._head("chat.completion"),
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage(stats),
            "timings": timings(stats),
        }

    def chunk(
        self,
        delta: dict[str, Any],
        finish: str | None = None,
        include_usage: bool = False,
        stats: ReplyStats | None = None,
    ) -> dict[str, Any]:
        body = {
            **self._head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:  # OpenAI sends "usage": null on every chunk but the last
            body["usage"] = None
        if stats is not None:
            body["timings"] = timings(stats)
        return body

    def usage_chunk(self, stats: ReplyStats) -> dict[str, Any]:
        """The last chunk when the client asked for usage: no choices, the token counts."""
        return {**self._head("chat.completion.chunk"), "choices": [], "usage": usage(stats)}


def call_deltas(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    """The deltas that stream ``calls``: for each, its head (index, id, type, name, arguments
    "") and then its arguments."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        head = {"name": call.name, "arguments": ""}
        deltas.append(
            {"tool_calls": [{"index": index, "id": call.id, "type": "function", "function": head}]}
        )
        deltas.append({"tool_calls": [{"index": index, "function": {"arguments": call.arguments}}]})
    return deltas


def usage(stats: ReplyStats) -> dict[str, Any]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.generated_tokens,
        "total_tokens": stats.prompt_tokens + stats.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.reused_tokens},
    }


def timings(stats: ReplyStats) -> dict[str, Any]:
    """llama-server's names: ``prompt_*`` the prefill of the tokens not cached, ``predicted_*``
    the tokens written after the first."""
    prompt_n = stats.prompt_tokens - stats.reused_tokens
    prompt_ms = stats.time_to_first_token * 1000
    predicted_ms = max(0.0, stats.total_seconds - stats.time_to_first_token) * 1000
    return {
        "cache_n": stats.reused_tokens,
        "prompt_n": prompt_n,
        "prompt_ms": round(prompt_ms, 3),
        "prompt_per_second": round(prompt_n / prompt_ms * 1000, 2) if prompt_ms > 0 else 0.0,
        "predicted_n": stats.generated_tokens,
        "predicted_ms": round(predicted_ms, 3),
        "predicted_per_second": stats.decode_tokens_per_s,
        "time_to_first_token_ms": round(prompt_ms, 3),
    }


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event: ``data: {json}`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


DONE = sse("[DONE]")
