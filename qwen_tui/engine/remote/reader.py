"""Reading a streamed chat completion: the answer and the thinking as they come, and what the
server says about the reply.

Shapes, as each server writes them (read from their sources; recorded in
``tests/fixtures/openai_streams/``):

- thinking in ``choices[0].delta.reasoning_content`` (llama-server, older vLLM, DeepSeek) or
  ``delta.reasoning`` (ollama, newer vLLM); a delta with both (servers that define both
  fields) is read once; a server without a reasoning parser leaves Qwen3's ``<think>`` block
  in ``delta.content``, and it is split off here;
- ``choices[0].delta.tool_calls``, pieces of calls put together by ``tool_calls.py``; a server
  that does not read calls itself (llama-cpp-python without a named tool, vLLM without a tool
  parser) leaves ``<tool_call>`` in the content, read here as the local engine reads it;
- ``choices[0].finish_reason`` "stop" / "length" / "tool_calls" (others count as stop);
- ``usage`` (prompt_tokens, completion_tokens) on a last chunk whose ``choices`` is empty,
  asked for with ``stream_options.include_usage``;
- llama-server's ``timings`` (prompt_n, prompt_ms, cache_n, predicted_n, predicted_per_second)
  on its last chunk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from ...remotes import RemoteEntry
from ..generate.thinking import Part, ThinkingSplitter
from ..tools import ToolCallFilter
from ..types import ReplyStats, TextCallback, ToolCall, ToolSpec
from . import errors
from .sse import DONE, Event
from .tool_calls import CallAssembler


class StreamReader:
    def __init__(
        self,
        entry: RemoteEntry,
        on_text: TextCallback | None,
        on_reasoning: TextCallback | None,
        *,
        split_think: bool = True,
        tools: Sequence[ToolSpec] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``tools``: those the server was given (their calls are read; none: no calls)."""
        self.entry = entry
        self.on_text = on_text
        self.on_reasoning = on_reasoning
        self.clock = clock
        self.started = clock()
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.pieces = 0  # chunks that carried text: about one token each
        self.answer: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.timings: dict[str, Any] = {}
        self.done = False  # [DONE] came
        self._splitter: ThinkingSplitter | None = ThinkingSplitter() if split_think else None
        self.tools = tuple(tools)
        self._calls = CallAssembler()
        self._in_content = ToolCallFilter(tools) if tools else None
        self.tool_calls: list[ToolCall] = []  # once closed
        self.bad_tool_calls = 0

    @property
    def complete(self) -> bool:
        """The server said the reply ended (a finish_reason, or [DONE])."""
        return self.done or self.finish_reason is not None

    def feed(self, event: Event) -> bool:
        """Take one event; True at the end of the stream. Raises RemoteError for an error
        the server reports mid-stream, or a stream that is not OpenAI's."""
        if event.field == "error":
            raise errors.failed_mid_reply(self.entry, errors.server_message(event.data))
        data = event.data.strip()
        if data == DONE:
            self.done = True
            return True
        try:
            chunk = json.loads(data)
        except ValueError:
            raise errors.not_openai(self.entry, "a streamed event is not JSON") from None
        if not isinstance(chunk, dict):
            raise errors.not_openai(self.entry, "a streamed event is not a JSON object")
        if "error" in chunk:
            raise errors.failed_mid_reply(self.entry, errors.server_message(data))
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        if isinstance(chunk.get("timings"), dict):
            self.timings = chunk["timings"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice)
        return False

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            thought = delta.get("reasoning") or delta.get("reasoning_content")
            content = delta.get("content")
            if isinstance(thought, str) and thought:
                self._tick()
                if self._splitter is not None:  # the server splits: content is all answer
                    self._flush()
                    self._splitter = None
                self._emit(thought, True)
                if isinstance(content, str) and content:
                    self._answer(content)
            elif isinstance(content, str) and content:
                self._tick()
                if self._splitter is None:
                    self._answer(content)
                else:
                    for part in self._splitter.push(content):
                        self._part(part)
            if self.tools and self._calls.feed(delta.get("tool_calls")):
                self._tick()
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish_reason = reason

    def close(self) -> None:
        """The stream ended (or was stopped): what the splitter held back is shown, and the
        calls are put together (a badly written one is shown as text)."""
        self._flush()
        if self._in_content is not None:
            self._emit(self._in_content.flush(), False)
            self.tool_calls += self._in_content.calls
            self.bad_tool_calls += self._in_content.bad
            self._in_content = None
        calls, bad = self._calls.finish(self.tools)
        self.tool_calls += calls
        self.bad_tool_calls += len(bad)
        for text in bad:
            self._emit(text, False)

    def _flush(self) -> None:
        if self._splitter is not None:
            for part in self._splitter.flush():
                self._part(part)

    def _part(self, part: Part) -> None:
        if part.reasoning:
            self._emit(part.text, True)
        else:
            self._answer(part.text)

    def _answer(self, text: str) -> None:
        """Answer text, calls written in it taken out when tools were offered."""
        self._emit(self._in_content.push(text) if self._in_content is not None else text, False)

    def _tick(self) -> None:
        now = self.clock()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.pieces += 1

    def _emit(self, text: str, reasoning: bool) -> None:
        if not text:
            return
        (self.reasoning if reasoning else self.answer).append(text)
        callback = self.on_reasoning if reasoning else self.on_text
        if callback is not None:
            callback(text)

    def stats(self, estimated_prompt: int, context_window: int, cancelled: bool) -> ReplyStats:
        """The server's numbers where it gave them (usage, llama-server's timings), else ours:
        the time to the first piece of text and the pace of the pieces after it."""
        usage, timings = self.usage, self.timings
        generated = _count(usage.get("completion_tokens")) or _count(timings.get("predicted_n"))
        generated = generated or self.pieces
        cached = _count(timings.get("cache_n")) or _count(
            (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        )
        prompt = _count(usage.get("prompt_tokens"))
        if not prompt and "prompt_n" in timings:
            prompt = _count(timings.get("prompt_n")) + _count(timings.get("cache_n"))
        prompt = prompt or estimated_prompt
        first = self.first_at - self.started if self.first_at is not None else 0.0
        ttft = _number(timings.get("prompt_ms")) / 1000 or first
        speed = _number(timings.get("predicted_per_second"))
        span = (self.last_at or 0.0) - (self.first_at or 0.0)
        if not speed and generated > 1 and span > 0:
            speed = (generated - 1) / span
        if cancelled:
            finish = "cancelled"
        elif self.tool_calls:
            finish = "tool_calls"
        else:
            finish = "length" if self.finish_reason == "length" else "stop"
        return ReplyStats(
            prompt_tokens=prompt,
            reused_tokens=cached,
            generated_tokens=generated,
            time_to_first_token=round(ttft, 6),
            decode_tokens_per_s=round(speed, 2),
            total_seconds=round(self.clock() - self.started, 4),
            context_used=prompt + generated,
            context_window=context_window,
            finish_reason=finish,
            bad_tool_calls=self.bad_tool_calls,
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _number(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return float(value) if ok else 0.0
