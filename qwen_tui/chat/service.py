"""What sending, regenerating and editing do to a conversation, without any UI.

The UI (or a script) owns threads and display; this module owns the rules:
which messages form the prompt, which parameters apply, and that a reply is
saved while it streams so a crash loses at most about a second of text.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..config import Settings
from ..engine.types import Attachment, ChatMessage, Engine, GenerationParams, Reply
from ..errors import EngineError, QwenTuiError, one_line
from ..history import ConversationStore, Message
from .thinking import soft_switch

SAVE_EVERY = 0.5  # seconds between saves of a streaming reply


def cache_key(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


def settings_params(settings: Settings) -> GenerationParams:
    return GenerationParams(
        temperature=settings.temperature,
        top_p=settings.top_p,
        top_k=settings.top_k,
        repetition_penalty=settings.repetition_penalty,
        max_new_tokens=settings.max_new_tokens,
    )


@dataclass(frozen=True)
class ReplyOutcome:
    message_id: int
    reply: Reply | None
    error: str | None = None
    gone: bool = False  # the conversation was deleted meanwhile
    thinking_seconds: float | None = None  # how long the reply thought, if it did
    tool_limit: int = 0  # a reply that called tools: the rounds it used up, if it did
    between_rounds: bool = False  # ... it stopped after a round's calls: nothing was streaming


class Streamed:
    """A streaming reply's answer and thinking so far, saved (both) about every SAVE_EVERY
    seconds, so a crash loses at most that much of either; and when it thought."""

    def __init__(self, store: ConversationStore, message_id: int, text: str, thought: str):
        self.store, self.message_id = store, message_id
        self.text, self.thought = [text], [thought]
        self.last_save = time.monotonic()
        self.thinking_from: float | None = None  # the first piece of thinking
        self.thinking_to: float | None = None  # the first piece of the answer after it

    def add(self, piece: str, reasoning: bool) -> None:
        now = time.monotonic()
        if reasoning:
            self.thought.append(piece)
            if self.thinking_from is None:
                self.thinking_from = now
        else:
            self.text.append(piece)
            if self.thinking_from is not None and self.thinking_to is None:
                self.thinking_to = now
        if now - self.last_save >= SAVE_EVERY:
            self.save()
            self.last_save = now

    def save(self, state: str | None = None) -> None:
        self.store.update_message(
            self.message_id,
            content="".join(self.text),
            reasoning="".join(self.thought),
            state=state,
        )

    def thinking_seconds(self) -> float | None:
        if self.thinking_from is None:
            return None
        end = self.thinking_to if self.thinking_to is not None else time.monotonic()
        return round(end - self.thinking_from, 1)


class ChatService:
    def __init__(self, store: ConversationStore, settings: Callable[[], Settings]) -> None:
        self.store = store
        self.settings = settings

    # -- what the model sees ---------------------------------------------
    def prompt_messages(self, conversation_id: int, continuing: bool = False) -> list[ChatMessage]:
        """System prompt (the conversation's, else the default) and the usable turns.

        Failed replies are left out; stopped replies are kept as far as they got (one that
        got no answer written and called no tool is left out, unless it is the reply to write
        on). A reply's thinking goes as ``ChatMessage.reasoning``, never in its text: the
        model's chat template decides what of it the model sees again (Qwen3's: none, for past
        turns). Files, tool calls and tool results go as they were stored.
        """
        system = self.system_prompt(conversation_id)
        messages = [ChatMessage("system", system)] if system else []
        stored = self.store.messages(conversation_id)
        for i, m in enumerate(stored):
            written_on = continuing and i == len(stored) - 1
            said = m.content or m.tool_calls or written_on
            if m.role == "assistant" and (m.state == "error" or not said):
                continue
            messages.append(m.chat_message())
        return messages

    def system_prompt(self, conversation_id: int | None) -> str:
        """The chat's system prompt, else the settings' ("": the model's own default)."""
        own = self.store.get(conversation_id).system_prompt if conversation_id else None
        return self.settings().system_prompt if own is None else own

    def params(self, conversation_id: int) -> GenerationParams:
        """The chat's own parameters over the settings (its thinking switch included)."""
        own = GenerationParams.from_dict(self.store.get(conversation_id).params)
        return own.over(settings_params(self.settings()))

    def reply_params(self, conversation_id: int) -> GenerationParams:
        """What the next reply uses: ``params``, and where the newest user message holds a
        soft switch (``/think``, ``/no_think``), that for ``enable_thinking``."""
        params = self.params(conversation_id)
        last_user = _last_user(self.store.messages(conversation_id))
        switch = soft_switch(last_user.content) if last_user else None
        return params if switch is None else replace(params, enable_thinking=switch)

    def set_thinking(self, conversation_id: int, enable: bool | None) -> None:
        """The chat's thinking switch: on, off, or None for the model's default."""
        own = dict(self.store.get(conversation_id).params)
        own.pop("enable_thinking", None)
        if enable is not None:
            own["enable_thinking"] = enable
        self.store.set_params(conversation_id, own)

    def _exists(self, conversation_id: int) -> bool:
        try:
            self.store.get(conversation_id)
        except KeyError:
            return False
        return True

    # -- actions ---------------------------------------------------------
    def add_user_message(
        self, conversation_id: int, text: str, attachments: tuple[Attachment, ...] = ()
    ) -> Message:
        """Store a message to send; files alone (no text) are one too."""
        if not text.strip() and not attachments:
            raise EngineError("The message is empty.", "Type something first.")
        return self.store.add_message(conversation_id, "user", text, attachments=attachments)

    def rewind_for_regenerate(self, conversation_id: int) -> bool:
        """Remove the replies after the last user message; False if there is none."""
        messages = self.store.messages(conversation_id)
        last_user = _last_user(messages)
        if last_user is None:
            return False
        after = [m for m in messages if m.id > last_user.id]
        if after:
            self.store.delete_messages_from(conversation_id, after[0].id)
        return True

    def take_last_user_message(self, conversation_id: int) -> Message | None:
        """Remove the last user message (and what followed); return it for editing."""
        last_user = _last_user(self.store.messages(conversation_id))
        if last_user is None:
            return None
        self.store.delete_messages_from(conversation_id, last_user.id)
        return last_user

    def can_continue(self, conversation_id: int) -> bool:
        """Whether the last message is a reply cut at max new tokens (ctrl+e writes on)."""
        messages = self.store.messages(conversation_id)
        last = messages[-1] if messages else None
        return bool(
            last
            and last.role == "assistant"
            and last.state == "complete"
            and (last.stats or {}).get("finish_reason") == "length"
        )

    def generate(
        self,
        conversation_id: int,
        engine: Engine,
        *,
        on_start: Callable[[int], None] = lambda _: None,
        on_text: Callable[[str], None] = lambda _: None,
        cancel: threading.Event | None = None,
        continue_reply: bool = False,
        on_reasoning: Callable[[str], None] = lambda _: None,
    ) -> ReplyOutcome:
        """Stream a reply to the conversation's last user message, saving its answer and its
        thinking apart as they come; with ``continue_reply``, write on the last reply (cut at
        max new tokens) instead. A reply cut while it was thinking goes on as its answer: the
        chat template closes the thought where it was cut (Qwen3's does), the model answers."""
        messages = self.prompt_messages(conversation_id, continuing=continue_reply)
        params = self.reply_params(conversation_id)
        before = thought_before = ""
        before_ids: tuple[int, ...] = ()
        before_stats: dict[str, Any] = {}
        if continue_reply:
            if not self.can_continue(conversation_id):
                raise EngineError(
                    "The last reply was not cut short.", "Send a message to go on instead."
                )
            placeholder = self.store.messages(conversation_id)[-1]
            before, before_ids = placeholder.content, placeholder.token_ids or ()
            thought_before, before_stats = placeholder.reasoning, placeholder.stats or {}
            self.store.update_message(placeholder.id, state="streaming")
        else:
            placeholder = self.store.add_message(
                conversation_id, "assistant", "", state="streaming"
            )
        on_start(placeholder.id)
        live = Streamed(self.store, placeholder.id, before, thought_before)

        def collect(piece: str) -> None:
            live.add(piece, reasoning=False)
            on_text(piece)

        def collect_reasoning(piece: str) -> None:
            live.add(piece, reasoning=True)
            on_reasoning(piece)

        extra: dict[str, Any] = {"continue_reply": True} if continue_reply else {}
        try:
            reply = engine.chat(
                messages,
                params,
                on_text=collect,
                cancel=cancel,
                cache_key=cache_key(conversation_id),
                on_reasoning=collect_reasoning,
                **extra,
            )
        except Exception as exc:  # a failing backend must not lose the conversation
            if isinstance(exc, KeyError) and not self._exists(conversation_id):
                return ReplyOutcome(placeholder.id, None, gone=True)  # deleted while streaming
            live.save(state="error")
            return ReplyOutcome(placeholder.id, None, failure(exc))
        state = "stopped" if reply.stopped else "complete"
        stats = reply_stats(engine, reply, params)
        seconds = live.thinking_seconds()
        if seconds is None:
            seconds = before_stats.get("thinking_seconds")
        if seconds is not None:
            stats["thinking_seconds"] = seconds
        try:
            self.store.update_message(
                placeholder.id,
                content=before + reply.text,
                reasoning=thought_before + reply.reasoning,
                state=state,
                stats=stats,
                token_ids=(before_ids + reply.token_ids) or None,
            )
        except KeyError:
            return ReplyOutcome(placeholder.id, reply, gone=True)
        return ReplyOutcome(placeholder.id, reply, thinking_seconds=seconds)


def failure(exc: Exception) -> str:
    """What a reply that raised ``exc`` shows: our errors' sentence, anything else prefixed."""
    prefix = "" if isinstance(exc, QwenTuiError) else "The model failed: "
    return prefix + one_line(exc)


def reply_stats(engine: Engine, reply: Reply, params: GenerationParams) -> dict[str, Any]:
    """A reply's stats as stored: the engine's, which model wrote it, and how it sampled."""
    stats = reply.stats.to_dict()
    info = getattr(engine, "info", None)
    if info is not None:  # which model wrote this reply, and how
        stats.update(model=info.name, format=info.low_bit)
    used = reply.params or params.over(info.defaults if info else params)
    stats["params"] = used.to_dict()  # as the engine sampled, where it says
    return stats


def _last_user(messages: list[Message]) -> Message | None:
    return next((m for m in reversed(messages) if m.role == "user"), None)


FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def code_blocks(markdown: str) -> list[str]:
    """The contents of fenced code blocks in a Markdown text."""
    return [m.group(2).rstrip("\n") for m in FENCE.finditer(markdown)]
