"""Whether a request fits the model's context window: first by its characters (free), then by
its tokens (the prompt tokenized as the engine will, off the worker)."""

from __future__ import annotations

from ..engine.types import ModelInfo
from .errors import ApiError
from .request import ChatRequest

SMALLEST_PROMPT_ROOM = 16  # the engine wants this many tokens of the window for the prompt
FORCED_CALL_ROOM = 32  # the opening of a forced call (tool_choice), which count_tokens does not see
# Unicode normalization (NFC, which Qwen's tokenizers apply first) can join up to 3 characters
# into one of 2 UTF-8 bytes ("U" + U+0308 + U+0304 -> "Ǖ"); no composition leaves fewer bytes
# per character it replaced (Hangul jamo: 3 characters, 3 bytes; Greek: 4 characters, 3 bytes).
NORMALIZED_BYTES_PER_CHARACTER = 2 / 3


def most_characters(info: ModelInfo) -> int:
    """The most message characters a prompt that fits ``info``'s window can have.

    A token of a byte-level BPE stands for at most ``longest_token`` bytes of the normalized
    text (the longest vocabulary entry, spelled one character per byte; a special token for
    its own characters), and the text has at least 2/3 of a byte for every character sent, so
    a prompt of N tokens holds at most N * longest_token * 3/2 characters of messages: the
    template adds to them (counted without the whitespace at either end, which a template may
    strip: Qwen3's drops an answer's leading newlines), and a reply fed back as generated
    tokens decodes to its text.
    For Qwen's vocabulary (128 spaces in one entry) that is 192 characters a token, 6.3
    million for a 32K window; real text takes 3 to 5. The bound is generous so that it never
    refuses a prompt that fits; the token count decides the rest. Unknown vocabulary: no bound.
    """
    if not info.longest_token:
        return 0
    per_token = info.longest_token / NORMALIZED_BYTES_PER_CHARACTER
    return int(info.context_window * per_token)


def check_characters(request: ChatRequest, info: ModelInfo) -> None:
    """400 ``context_length_exceeded`` when the messages' characters alone cannot fit."""
    bound = most_characters(info)
    characters = sum(len(m.content.strip()) for m in request.messages)
    if bound and characters > bound:
        raise too_long(
            info.context_window,
            f"{characters:,} characters, more than any {info.context_window}-token prompt holds",
        )


def room_for_reply(request: ChatRequest, prompt_tokens: int, window: int) -> int:
    """How many tokens the reply may have; 400 ``context_length_exceeded`` if none, or fewer
    than ``max_tokens`` asks for."""
    # the template's thinking switch may add a few tokens count_tokens does not see
    slack = SMALLEST_PROMPT_ROOM if request.params.enable_thinking is not None else 0
    slack += FORCED_CALL_ROOM if request.forced else 0
    room = window - max(prompt_tokens + slack, SMALLEST_PROMPT_ROOM)
    wanted = request.params.max_new_tokens
    if room < 1 or (wanted is not None and wanted > room):
        asked = f" and max_tokens asks for {wanted}" if wanted is not None else ""
        raise too_long(window, f"{prompt_tokens}{asked}")
    return wanted or room


def too_long(window: int, what: str) -> ApiError:
    return ApiError(
        400,
        f"This model's maximum context length is {window} tokens, but the messages take "
        f"{what}. Shorten the messages or lower max_tokens.",
        param="messages",
        code="context_length_exceeded",
    )
