"""Incremental detokenization that never splits a multi-byte character.

Byte-level tokenizers emit pieces of UTF-8 sequences (a Chinese character or
an emoji may span tokens). Decoding a token at a time would print U+FFFD
replacement characters; instead we decode a short window and emit text only
once it no longer ends in an incomplete sequence.
"""

from __future__ import annotations

from collections.abc import Callable

REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self.decode = decode
        self.ids: list[int] = []
        self.prefix_offset = 0  # start of the window that is decoded again
        self.read_offset = 0  # tokens whose text has been emitted

    def push(self, token_id: int) -> str:
        """Add a token; return the newly complete text (possibly empty)."""
        self.ids.append(token_id)
        prefix_text = self.decode(self.ids[self.prefix_offset : self.read_offset])
        new_text = self.decode(self.ids[self.prefix_offset :])
        if len(new_text) > len(prefix_text) and not new_text.endswith(REPLACEMENT):
            piece = new_text[len(prefix_text) :]
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return piece
        return ""

    def flush(self) -> str:
        """Whatever is still held back at the end (may contain U+FFFD if truly broken)."""
        prefix_text = self.decode(self.ids[self.prefix_offset : self.read_offset])
        new_text = self.decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset = len(self.ids)
        return new_text[len(prefix_text) :]
