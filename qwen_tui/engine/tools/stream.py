"""Function calls taken out of an answer as it streams.

The answer's text is shown as it comes, except what may be the start of a call: from a
``<tool_call>`` or ``<function=`` (or the first characters of one, at the end of what came so
far) the text is held back until the call's closing tag, and an answer that opens as a call
without tags may be one (``bare.py``) until it cannot. A well-formed call (``parse.py``)
becomes a ``ToolCall`` and is never shown; a badly written one is shown as the text it is, and
counted. The blank space around a call is not part of the answer; elsewhere it is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..types import ToolCall, ToolSpec
from . import bare
from .parse import CALL_OPEN, CLOSER, FUNCTION_CLOSE, FUNCTION_OPEN, OPENERS, read_call

# how far into a block its first sign of being a call must come (else it is text)
_NAME_ROOM = 256  # <function=NAME> : the ">" of the tag


class ToolCallFilter:
    """``push`` the answer's text, show what it returns; ``flush`` at the end of the reply.
    ``calls`` and ``bad`` (badly written calls) are there once it has flushed."""

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self.calls: list[ToolCall] = []
        self.bad = 0
        self.why: list[str] = []  # what was wrong with each badly written call
        self._held = ""  # not yet shown: maybe a call, or its start
        self._opener = ""  # the kind of block being read ("" between blocks)
        self._gap = ""  # blank space after the text shown, shown once more text follows
        self._after_call = False  # blank space right after a call is dropped
        self._lead = True  # the answer so far may be a call without tags (bare.py)

    def push(self, text: str) -> str:
        self._held += text
        if self._lead:
            if bare.verdict(self._held) == bare.WAIT:
                return ""
            self._lead = False
        out: list[str] = []
        while self._step(out):
            pass
        return "".join(out)

    def call_written(self) -> bool:
        """Whether the block being read already holds a whole call in ``<tool_call>`` (its JSON
        object closed, or its ``</function>`` written), though not yet its closing tag."""
        if self._opener != CALL_OPEN:
            return False
        inner = self._held[len(CALL_OPEN) :].strip()
        if inner.startswith(FUNCTION_OPEN):
            return FUNCTION_CLOSE in inner
        try:
            json.JSONDecoder().raw_decode(inner)
        except ValueError:
            return False
        return True

    def flush(self) -> str:
        """The end of the reply: a block left open is read as it is (a call the end of the
        reply closed, or text), a partial opening tag is text."""
        out: list[str] = []
        if self._lead and self._whole_answer_call():
            return ""
        if self._opener:
            self._finish_block(self._held, out)
        else:
            self._text(self._held, out)
        self._held, self._opener = "", ""
        if not self._after_call:
            out.append(self._gap)
        self._gap = ""
        return "".join(out)

    # -- one step over what is held: True when it should be called again
    def _step(self, out: list[str]) -> bool:
        held = self._held
        if not self._opener:
            at, opener = _first_opener(held)
            if at < 0:
                keep = max(_partial_suffix(held, o) for o in OPENERS)
                self._text(held[: len(held) - keep], out)
                self._held = held[len(held) - keep :]
                return False
            self._text(held[:at], out)
            self._held, self._opener = held[at:], opener
            return True
        closer = CLOSER[self._opener]
        end = held.find(closer, len(self._opener))
        again = held.find(self._opener, len(self._opener))  # a second opening before a close
        if again >= 0 and (end < 0 or again < end):
            self._finish_block(held[:again], out)
            self._held, self._opener = held[again:], ""
            return True
        if end >= 0:
            self._finish_block(held[: end + len(closer)], out)
            self._held, self._opener = held[end + len(closer) :], ""
            return True
        if not self._plausible(held):
            self._text(held[: len(self._opener)], out)  # the tag was text: go on after it
            self._held, self._opener = held[len(self._opener) :], ""
            return True
        return False

    def _plausible(self, held: str) -> bool:
        """Whether a block read so far may still be a call: after ``<tool_call>`` comes a
        ``{`` or a ``<``; ``<function=NAME>`` closes its tag on its line."""
        if self._opener == CALL_OPEN:
            body = held[len(CALL_OPEN) :].lstrip()
            return not body or body[0] in "{<"
        tag = held[len(FUNCTION_OPEN) :]
        close = tag.find(">")
        if close < 0:
            return "\n" not in tag and len(tag) < _NAME_ROOM
        return "\n" not in tag[:close]

    def _whole_answer_call(self) -> bool:
        """Whether the answer, held whole, is one call without tags (then taken)."""
        self._lead = False
        body = bare.whole_call(self._held)
        if body is None:
            return False
        call, why = read_call(body, self.tools)
        if call is None:
            if json.loads(body).get("name") in self.tools:  # a call to a tool, badly written
                self.bad += 1
                self.why.append(why)
            return False
        self.calls.append(call)
        self._held, self._gap = "", ""
        return True

    def _finish_block(self, block: str, out: list[str]) -> None:
        call, why = read_call(block, self.tools)
        if call is None:
            self.bad += 1
            self.why.append(why)
            self._text(block, out)
            return
        self.calls.append(call)
        self._gap, self._after_call = "", True

    def _text(self, text: str, out: list[str]) -> None:
        """Answer text: shown, but for its blank end, which waits to see what follows."""
        if self._after_call:
            text = text.lstrip()
            if not text:
                return
            self._after_call = False
        if not text:
            return
        text = self._gap + text
        body = text.rstrip()
        self._gap = text[len(body) :]
        if body:
            out.append(body)


def split_calls(text: str, tools: Iterable[ToolSpec]) -> tuple[str, list[ToolCall], int]:
    """(the answer without its calls, the well-formed calls, how many were badly written)
    of a whole reply."""
    calls = ToolCallFilter(tools)
    answer = calls.push(text) + calls.flush()
    return answer, calls.calls, calls.bad


def _first_opener(text: str) -> tuple[int, str]:
    found = [(text.find(o), o) for o in OPENERS]
    found = [(at, o) for at, o in found if at >= 0]
    return min(found) if found else (-1, "")


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that begins ``tag`` (but is not all of it)."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0
