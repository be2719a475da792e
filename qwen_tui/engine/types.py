"""The engine's vocabulary: messages, parameters, replies, stats, the protocol."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol, TypeAlias


@dataclass(frozen=True)
class ToolCall:
    """A function call a model wrote, in OpenAI's shape."""

    id: str  # "call_..." as OpenAI writes them; a "tool" message answers it by this id
    name: str
    arguments: str  # a JSON object, as text (OpenAI's ``function.arguments``)


@dataclass(frozen=True)
class ToolSpec:
    """A function a model may call: OpenAI's ``tools[i].function``."""

    name: str
    description: str = ""
    parameters: dict = field(default_factory=dict, hash=False)  # a JSON schema (an object's)


@dataclass(frozen=True)
class NamedTool:
    """A ``tool_choice`` that names the one function the reply must call."""

    name: str


# "auto" (the model decides), "none" (no tools offered, no calls read), "required" (a call, to
# any of the tools), or NamedTool (a call to that one)
ToolChoice: TypeAlias = str | NamedTool


@dataclass(frozen=True)
class Attachment:
    """A text file sent with a user message: its name and its text as read."""

    name: str
    text: str


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user", "assistant" or "tool" (a tool's result)
    content: str
    # an assistant message's tokens as the model generated them: the next prompt feeds these
    # (while they still spell ``content``), so a kept KV cache covers the whole reply
    token_ids: tuple[int, ...] | None = None
    # an assistant reply's thinking (Qwen3's <think> block), kept apart from ``content``; the
    # chat template decides whether it goes back to the model (Qwen3's: never for past turns)
    reasoning: str = ""
    # the calls an assistant message makes (its ``content`` is what it wrote besides them)
    tool_calls: tuple[ToolCall, ...] = ()
    # a "tool" message: the id of the call it answers, and the function's name
    tool_call_id: str = ""
    name: str = ""
    # files sent with a user message; they reach the model after ``content``
    attachments: tuple[Attachment, ...] = ()


SEED_MAX = 2**63 - 1  # the largest seed a chat may set (torch takes a 64-bit signed one)


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings; None means "the model's generation_config.json default"."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    # Qwen3's switch: False closes the <think> block before the reply starts; None leaves it
    # to the model's chat template (Qwen3: thinking on)
    enable_thinking: bool | None = None

    def over(self, defaults: GenerationParams) -> GenerationParams:
        """These values where set, the defaults elsewhere."""
        mine = {k: v for k, v in asdict(self).items() if v is not None}
        return replace(defaults, **mine)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict | None) -> GenerationParams:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


FALLBACK_PARAMS = GenerationParams(
    temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05, max_new_tokens=512
)


@dataclass
class ReplyStats:
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens served from the KV cache
    generated_tokens: int = 0
    time_to_first_token: float = 0.0  # seconds
    decode_tokens_per_s: float = 0.0
    total_seconds: float = 0.0
    dropped_turns: int = 0
    context_used: int = 0
    context_window: int = 0
    finish_reason: str = ""  # "stop" | "length" | "cancelled" | "tool_calls"
    bad_tool_calls: int = 0  # calls the model wrote badly (kept in the answer as text)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Reply:
    text: str  # the answer, without the thinking
    stats: ReplyStats = field(default_factory=ReplyStats)
    token_ids: tuple[int, ...] = ()  # the generated tokens, without the one that stopped it
    reasoning: str = ""  # what the model wrote in its <think> block, if it thought
    params: GenerationParams | None = None  # what the reply was sampled with, defaults filled
    tool_calls: tuple[ToolCall, ...] = ()  # well-formed calls; finish_reason is then "tool_calls"

    @property
    def stopped(self) -> bool:
        return self.stats.finish_reason == "cancelled"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    low_bit: str
    family: str
    path: str
    context_window: int
    defaults: GenerationParams
    # "none": the model does not think; "switch": it thinks unless enable_thinking is False
    # (Qwen3); "always": its template opens the <think> block itself (Qwen3 Thinking-2507)
    thinking: str = "none"
    # the most characters one token can stand for (the longest entry of the vocabulary); 0: unknown
    longest_token: int = 0
    # what opening the model did that its user should hear once (a save_low_bit folder converted)
    note: str = ""


TextCallback = Callable[[str], None]


class Engine(Protocol):
    """What the UI and the CLI need from a model backend."""

    info: ModelInfo | None

    def load(self) -> ModelInfo: ...

    def chat(
        self,
        messages: list[ChatMessage],
        params: GenerationParams | None = None,
        *,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
        cache_key: str | None = None,
        continue_reply: bool = False,
        on_reasoning: TextCallback | None = None,
        tools: Sequence[ToolSpec] = (),
        tool_choice: ToolChoice = "auto",
    ) -> Reply:
        """``on_text`` gets the answer as it is written, ``on_reasoning`` the thinking; the
        calls the model makes to ``tools`` come in ``Reply.tool_calls``, never as text."""
        ...

    def cancel(self) -> None: ...

    def unload(self) -> None: ...

    def count_tokens(self, messages: list[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        """The prompt's tokens (with the tools' schemas, if given)."""
        ...

    def tool_tokens(self, tools: Sequence[ToolSpec]) -> int:
        """How many prompt tokens offering ``tools`` takes (0 for none)."""
        ...
