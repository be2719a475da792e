"""ChatML prompts for Qwen models, and fitting a conversation into the window.

Every Qwen chat model speaks ChatML::

    <|im_start|>system\n{system}<|im_end|>\n
    <|im_start|>user\n{text}<|im_end|>\n
    <|im_start|>assistant\n{text}<|im_end|>\n
    ...
    <|im_start|>assistant\n          <- the reply starts here

Qwen2-family tokenizers carry this as a chat template. Qwen-1's QWenTokenizer
has none; we follow Qwen-1's own ``make_context``: the markers are the
tokenizer's ``im_start_id``/``im_end_id`` and message text is encoded with
``allowed_special=set()`` so text typed by a user can never forge a marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import EngineError
from ..attachments import with_attachments
from ..tokenizer import ChatTokenizer, compile_chat_template
from ..tools import ToolsNotSupported, message_dict, tool_dicts, tool_format, uses_tools
from ..types import ChatMessage, ToolSpec
from .thinking import CLOSE, opens_thinking

DEFAULT_SYSTEM = "You are a helpful assistant."


@dataclass(frozen=True)
class SpecialIds:
    im_start: int
    im_end: int
    endoftext: int

    @property
    def stop(self) -> frozenset[int]:
        # <|im_start|> too: a model that opens a new turn has finished its reply.
        return frozenset((self.im_end, self.endoftext, self.im_start))


def is_qwen1_tokenizer(tokenizer: Any) -> bool:
    return hasattr(tokenizer, "im_start_id") and hasattr(tokenizer, "im_end_id")


def special_ids(tokenizer: Any) -> SpecialIds:
    if is_qwen1_tokenizer(tokenizer):
        return SpecialIds(tokenizer.im_start_id, tokenizer.im_end_id, tokenizer.eod_id)
    ids = [
        tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
    ]
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise EngineError(
            "This tokenizer has no ChatML tokens (<|im_start|>, <|im_end|>, <|endoftext|>).",
            "Use a Qwen chat model.",
        )
    return SpecialIds(*ids)


class PromptBuilder:
    """Turns messages into token ids for one tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.special = special_ids(tokenizer)
        self.qwen1 = is_qwen1_tokenizer(tokenizer)
        if not self.qwen1 and not getattr(tokenizer, "chat_template", None):
            raise EngineError(
                "This Qwen tokenizer has no chat template.",
                "Quantize the chat (instruct) version of the model.",
            )

    @property
    def thinking(self) -> str:
        """How the model thinks (``ModelInfo.thinking``): "none", "switch" or "always"."""
        template = "" if self.qwen1 else str(self.tokenizer.chat_template)
        if "enable_thinking" in template:
            return "switch"
        if CLOSE in template and self.opens_thinking(self.encode([ChatMessage("user", "hi")])):
            return "always"
        return "none"

    def longest_token(self) -> int:
        """The length of the longest vocabulary entry, special tokens included. Byte-level BPE
        spells an entry one character per byte, so no token stands for more characters."""
        if self.qwen1:  # tiktoken's ranks are bytes
            return int(self.tokenizer.longest_token())
        return max((len(entry) for entry in self.tokenizer.get_vocab()), default=0)

    @property
    def tool_format(self) -> str:
        """How the model writes calls ("json", "xml"), or "" when its template has none."""
        return "" if self.qwen1 else tool_format(str(self.tokenizer.chat_template))

    def tool_tokens(self, tools: Sequence[ToolSpec]) -> int:
        """How many prompt tokens offering ``tools`` takes (a one-message prompt with and
        without them)."""
        if not tools:
            return 0
        probe = [ChatMessage("user", "hi")]
        return len(self.encode(probe, tools=tools)) - len(self.encode(probe))

    @property
    def may_think(self) -> bool:
        """Whether replies may start with a <think> block (to be split off)."""
        return not self.qwen1 and CLOSE in str(self.tokenizer.chat_template)

    def opens_thinking(self, ids: list[int]) -> bool:
        """Whether the prompt ``ids`` leaves a <think> block open for the reply to close."""
        starts = [i for i, t in enumerate(ids) if t == self.special.im_start]
        return bool(starts) and opens_thinking(self.decode(ids[starts[-1] :]))

    def encode(
        self,
        messages: list[ChatMessage],
        continue_last: bool = False,
        enable_thinking: bool | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> list[int]:
        """The prompt for the next assistant reply; with ``continue_last`` the last message
        is an assistant reply cut short, left open so that the model writes on.
        ``enable_thinking`` goes to the chat template (Qwen3's switch); None leaves it out.
        ``tools`` go to the chat template too (ToolsNotSupported if it has no tool calls)."""
        messages = with_attachments(messages)  # files go in as fenced blocks after the text
        opened = continue_last and bool(messages) and messages[-1].role == "assistant"
        if (tools or uses_tools(messages)) and not self.tool_format:
            raise ToolsNotSupported(
                "Qwen-1 has no chat template for tool calls."
                if self.qwen1
                else "This model's chat template has no tool calls.",
                "Use a model trained for them (Qwen2.5, Qwen3, Qwen3.5), or send no tools.",
            )
        if self.qwen1:
            ids = self._encode_qwen1(messages, generation_prompt=not opened)
        else:
            ids = self._render(messages, not opened, enable_thinking, tools)
        if any(m.token_ids for m in messages if m.role == "assistant"):
            ids = self._as_generated(ids, messages, opened)
        if opened:  # the reply's block without its <|im_end|> (and what follows it)
            ids = ids[: len(ids) - ids[::-1].index(self.special.im_end) - 1]
        return ids

    def _render(
        self,
        messages: list[ChatMessage],
        generation_prompt: bool,
        enable_thinking: bool | None,
        tools: Sequence[ToolSpec] = (),
    ) -> list[int]:
        tok = self.tokenizer
        as_dicts = [message_dict(m) for m in messages]
        variables: dict[str, Any] = {}
        if enable_thinking is not None:
            variables["enable_thinking"] = enable_thinking
        if tools:
            variables["tools"] = tool_dicts(tools)
        if isinstance(tok, ChatTokenizer) or not (variables or uses_tools(messages)):
            return list(
                tok.apply_chat_template(
                    as_dicts, add_generation_prompt=generation_prompt, tokenize=True, **variables
                )
            )
        # transformers 4.37's apply_chat_template passes no extra variables to the template,
        # and its ``tojson`` is Jinja's (keys sorted, HTML escaped), not what templates are
        # written for: the template is compiled as ChatTokenizer compiles it (its tokenizers
        # are left for folders ChatTokenizer does not read: models/__init__.py)
        template = compile_chat_template(tok.chat_template)
        text = template.render(
            messages=as_dicts,
            add_generation_prompt=generation_prompt,
            **variables,
            **tok.special_tokens_map,
        )
        return list(tok.encode(text, add_special_tokens=False))

    def _as_generated(
        self, ids: list[int], messages: list[ChatMessage], opened: bool = False
    ) -> list[int]:
        """Each assistant message's text as the tokens the model generated, where they still
        spell it (an edited message gets the tokenizer's own).

        What a model generates is often not what the tokenizer makes of the text (with random
        weights, almost never); fed back as generated, a kept KV cache covers the whole reply,
        and the prompt is the same whether or not a cache is kept."""
        starts = [i for i, t in enumerate(ids) if t == self.special.im_start]
        if not opened:
            starts = starts[:-1]  # the last block opens the reply to come
        first = len(starts) - len(messages)  # a default system block may come first
        if first < 0:  # not one block per message: leave the prompt as the tokenizer made it
            return ids
        out: list[int] = []
        done = 0
        for message, start in zip(messages, starts[first:], strict=True):
            if message.role != "assistant" or not message.token_ids:
                continue
            span = self._content_span(ids, start)
            generated = list(message.token_ids)
            if span is None or self.decode(generated) != message.content:
                continue
            begin, end = span
            if self.decode(ids[begin:end]) != message.content:
                continue
            out += ids[done:begin] + generated
            done = end
        return out + ids[done:]

    def _content_span(self, ids: list[int], start: int) -> tuple[int, int] | None:
        """Where the text of the assistant block opening at ``ids[start]`` lies: after its
        "assistant\n" header, up to its <|im_end|>."""
        try:
            end = ids.index(self.special.im_end, start)
        except ValueError:
            return None
        for header in range(start + 2, end + 1):
            text = self.decode(ids[start + 1 : header])
            if text == "assistant\n":
                return header, end
            if len(text) >= len("assistant\n"):
                return None
        return None

    def _encode_qwen1(
        self, messages: list[ChatMessage], generation_prompt: bool = True
    ) -> list[int]:
        tok = self.tokenizer
        nl = tok.encode("\n")
        start, end = [self.special.im_start], [self.special.im_end]

        def block(role: str, content: str) -> list[int]:
            body = tok.encode(role, allowed_special=set()) + nl
            body += tok.encode(content, allowed_special=set())
            return start + body + end

        if not messages or messages[0].role != "system":
            messages = [ChatMessage("system", DEFAULT_SYSTEM), *messages]
        ids: list[int] = []
        for i, message in enumerate(messages):
            if i:
                ids += nl
            ids += block(message.role, message.content)
        if not generation_prompt:
            return ids
        return ids + nl + start + tok.encode("assistant", allowed_special=set()) + nl

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)


@dataclass(frozen=True)
class FittedPrompt:
    ids: list[int]
    messages: list[ChatMessage]
    dropped_turns: int


def split_turns(messages: list[ChatMessage]) -> tuple[list[ChatMessage], list[list[ChatMessage]]]:
    """(system messages, turns) where a turn is a user message and what answers it."""
    system = [m for m in messages[:1] if m.role == "system"]
    turns: list[list[ChatMessage]] = []
    for message in messages[len(system) :]:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return system, turns


def fit(
    builder: PromptBuilder,
    messages: list[ChatMessage],
    budget: int,
    continue_last: bool = False,
    enable_thinking: bool | None = None,
    tools: Sequence[ToolSpec] = (),
) -> FittedPrompt:
    """Drop the oldest turns until the prompt fits ``budget`` tokens.

    The system prompt and the newest user message are never dropped; if those
    alone do not fit, the message is refused with the numbers. With ``continue_last`` the
    conversation ends with the reply to write on; else with a user message or the results
    of tool calls (``tool`` messages). ``tools`` are offered in every prompt tried.
    """
    last = ("assistant",) if continue_last else ("user", "tool")
    if not messages or messages[-1].role not in last:
        raise EngineError(
            f"The conversation must end with {' or '.join(f'a {r}' for r in last)} message.",
            "Send a message.",
        )
    system, turns = split_turns(messages)
    dropped = 0
    while True:
        kept = system + [m for turn in turns[dropped:] for m in turn]
        ids = builder.encode(kept, continue_last, enable_thinking, tools)
        if len(ids) <= budget:
            return FittedPrompt(ids, kept, dropped)
        if dropped >= len(turns) - 1:
            files = messages[-1].attachments
            raise EngineError(
                ("The message and its files are" if files else "The message is")
                + f" too long for the model: {len(ids)} prompt tokens, {budget} available.",
                ("Remove a file or attach part of it, " if files else "Shorten it, ")
                + "shorten the system prompt, or lower max new tokens.",
            )
        dropped += 1
