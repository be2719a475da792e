"""Qwen-1's tokenizer in qwen-tui's own code: tiktoken over the folder's ``qwen.tiktoken``.

Qwen-1's repos ship ``tokenization_qwen.py`` (``QWenTokenizer``), which transformers would run
as remote code. This computes the same ids without it:

- ``qwen.tiktoken``: one ``base64(token) rank`` per line, the byte-level BPE ranks;
- the split pattern ``PATTERN`` below, and NFC normalisation of the text first;
- special tokens from id 151643 on, whatever the vocabulary's size: ``<|endoftext|>``,
  ``<|im_start|>``, ``<|im_end|>``, then ``<|extra_0|>`` … ``<|extra_204|>``.

``encode`` allows every special token's text by default, as QWenTokenizer does; prompts encode
message text with ``allowed_special=set()`` so that typed ``<|im_end|>`` stays text. ``decode``
turns ids it does not know (the gap between the vocabulary and the output head's rows) into
nothing rather than failing mid-reply.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Literal

VOCAB_FILE = "qwen.tiktoken"
PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SPECIAL_START_ID = 151643
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END) + tuple(f"<|extra_{i}|>" for i in range(205))


class TokenizerFileError(ValueError):
    """``qwen.tiktoken`` is missing or not a tiktoken rank file."""


def read_ranks(path: Path) -> dict[bytes, int]:
    """The BPE ranks of a ``qwen.tiktoken`` file."""
    ranks: dict[bytes, int] = {}
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise TokenizerFileError(f"{path.name} cannot be read ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise TokenizerFileError(f"{path.name} line {number} is not 'base64 rank'") from None
    if not ranks:
        raise TokenizerFileError(f"{path.name} holds no tokens")
    if max(ranks.values()) >= SPECIAL_START_ID or len(set(ranks.values())) != len(ranks):
        raise TokenizerFileError(f"{path.name} has ranks that collide with each other or with ids")
    return ranks


class Qwen1Tokenizer:
    """Encode and decode as Qwen-1's QWenTokenizer does (the ids are the same)."""

    chat_template = None  # Qwen-1 prompts are built as its make_context does (generate/prompt.py)

    def __init__(self, ranks: dict[bytes, int]) -> None:
        import tiktoken

        self.special_tokens = {t: SPECIAL_START_ID + i for i, t in enumerate(SPECIAL_TOKENS)}
        self._encoding = tiktoken.Encoding(
            "qwen-tui-qwen1", pat_str=PATTERN, mergeable_ranks=ranks,
            special_tokens=self.special_tokens,
        )  # fmt: skip
        self._ranks = ranks
        self._known = set(ranks.values()) | set(self.special_tokens.values())
        self.eod_id = self.special_tokens[ENDOFTEXT]
        self.im_start_id = self.special_tokens[IM_START]
        self.im_end_id = self.special_tokens[IM_END]

    @classmethod
    def from_folder(cls, folder: Path) -> Qwen1Tokenizer:
        path = Path(folder) / VOCAB_FILE
        if not path.is_file():
            raise TokenizerFileError(f"{folder} has no {VOCAB_FILE}")
        return cls(read_ranks(path))

    def longest_token(self) -> int:
        """The most bytes one token stands for (a special token: its characters)."""
        return max(max(map(len, self._ranks)), max(map(len, self.special_tokens)))

    def __len__(self) -> int:
        return self._encoding.n_vocab

    @property
    def vocab_size(self) -> int:
        return self._encoding.n_vocab

    def encode(
        self, text: str, allowed_special: Collection[str] | str = "all", **_: object
    ) -> list[int]:
        """Token ids of ``text`` (NFC-normalised first); special tokens' text becomes their
        ids only where ``allowed_special`` allows (all by default), else stays text."""
        allowed: Literal["all"] | set[str] = (
            "all" if allowed_special == "all" else set(allowed_special)
        )
        text = unicodedata.normalize("NFC", text)
        return self._encoding.encode(text, allowed_special=allowed, disallowed_special=())

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False, **_: object) -> str:
        if isinstance(ids, int):
            ids = [ids]
        known = [i for i in ids if i in self._known]
        if skip_special_tokens:
            known = [i for i in known if i < self.eod_id]
        return self._encoding.decode(known, errors="replace")
