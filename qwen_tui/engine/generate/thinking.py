"""Splitting a reply as it streams into its thinking and its answer.

Qwen3 writes ``<think>\\n…\\n</think>\\n\\n`` before its answer (an empty block when thinking is
off); Qwen3 Thinking-2507's template opens the block itself, so the reply holds only the
closing tag. Thinking can only come first: a reply that does not start with ``<think>`` (after
blank lines) is all answer, and a ``<think>`` later on is text the model wrote.

The newlines that frame the block are not part of either side, as Qwen3's chat template strips
them (``reasoning_content.strip('\\n')``, ``content.lstrip('\\n')``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import GenerationParams

OPEN, CLOSE = "<think>", "</think>"

# Qwen3's model cards: thinking mode samples as its generation_config.json says (temperature
# 0.6, top_p 0.95, top_k 20); "for non-thinking mode, we suggest Temperature=0.7, TopP=0.8,
# TopK=20". These apply where the user set nothing else.
NON_THINKING = GenerationParams(temperature=0.7, top_p=0.8, top_k=20)
# Thinking takes room (the cards suggest 32,768 tokens, too many for a CPU): the default cap of
# a thinking model's reply when its generation_config.json sets none.
THINKING_MAX_NEW_TOKENS = 8192


@dataclass(frozen=True)
class Part:
    text: str
    reasoning: bool  # True: thinking; False: the answer


def opens_thinking(prompt_tail: str) -> bool:
    """Whether a prompt ending in ``prompt_tail`` leaves a <think> block open for the reply."""
    at = prompt_tail.rfind(OPEN)
    return at >= 0 and CLOSE not in prompt_tail[at:]


class ThinkingSplitter:
    """Feed decoded text with ``push``; it returns the parts that are certain so far."""

    def __init__(self, opened: bool = False) -> None:
        # "start": maybe a <think> to come; "thinking"; "answer"
        self.state = "thinking" if opened else "start"
        self.held = ""  # text that may still turn out to be a tag or framing newlines
        self.reasoning: list[str] = []
        self.answer: list[str] = []
        self._lead = opened  # newlines right after the opening tag are framing

    def push(self, text: str) -> list[Part]:
        self.held += text
        out: list[Part] = []
        while True:
            if self.state == "start":
                body = self.held.lstrip("\n")
                if body.startswith(OPEN):
                    self.held, self.state, self._lead = body[len(OPEN) :], "thinking", True
                    continue
                if OPEN.startswith(body):  # still "<thi" or only newlines: wait
                    return out
                self.state = "answer"
                self.held = self.held.lstrip("\n")
            if self.state == "thinking":
                if self._lead:
                    self.held = self.held.lstrip("\n")
                    if not self.held:
                        return out
                    self._lead = False
                at = self.held.find(CLOSE)
                if at >= 0:
                    self._emit(out, self.held[:at].rstrip("\n"), True)
                    self.held, self.state = self.held[at + len(CLOSE) :], "after"
                    continue
                keep = _partial_suffix(self.held, CLOSE)
                body = self.held[: len(self.held) - keep]
                trailing = len(body) - len(body.rstrip("\n"))  # maybe the closing frame
                self._emit(out, body[: len(body) - trailing], True)
                self.held = self.held[len(body) - trailing :]
                return out
            if self.state == "after":  # the blank lines between the block and the answer
                self.held = self.held.lstrip("\n")
                if not self.held:
                    return out
                self.state = "answer"
            self._emit(out, self.held, False)
            self.held = ""
            return out

    def flush(self) -> list[Part]:
        """The end of the reply: what was held back is what it is."""
        out: list[Part] = []
        if self.state == "start":  # never became a tag: answer text
            self._emit(out, self.held.lstrip("\n"), False)
        elif self.state == "thinking":  # cut before </think>
            self._emit(out, self.held.rstrip("\n"), True)
        elif self.state == "answer":
            self._emit(out, self.held, False)
        self.held = ""
        return out

    @property
    def thought(self) -> bool:
        return self.state in ("thinking", "after") or bool(self.reasoning)

    def _emit(self, out: list[Part], text: str, reasoning: bool) -> None:
        if not text:
            return
        (self.reasoning if reasoning else self.answer).append(text)
        out.append(Part(text, reasoning))


def split_reply(text: str, opened: bool = False) -> tuple[str, str]:
    """(reasoning, answer) of a whole reply."""
    splitter = ThinkingSplitter(opened)
    splitter.push(text)
    splitter.flush()
    return "".join(splitter.reasoning), "".join(splitter.answer)


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that begins ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0
