"""A call written without Qwen's tags: the whole answer one JSON object, bare or in a ```json
block, as Qwen2.5-Coder writes its calls (measured: scripts/tool_call_rate.py; llama.cpp reads
its calls the same way)::

    {"name": "get_weather", "arguments": {"city": "Paris"}}

Only an answer that is nothing else (blank space and the fence aside) and opens with
``{"name"`` counts, so that an answer which merely shows JSON is left alone: while the answer's
start may still be such a call it is held back (``stream.py``), and as soon as it cannot be,
it is shown.
"""

from __future__ import annotations

import json
import re

WAIT, TEXT = "wait", "text"
FENCE = "```"
_NAME = '"name"'
_decoder = json.JSONDecoder()
_FENCED = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL | re.IGNORECASE)


def verdict(answer: str) -> str:
    """WAIT while the answer so far may still be a whole-answer call, else TEXT."""
    text = answer.lstrip()
    if not text:
        return WAIT
    if text.startswith(FENCE) or FENCE.startswith(text):
        newline = text.find("\n")
        if newline < 0:  # the fence's language is still coming
            return WAIT if "json".startswith(text[3:].strip().lower()) else TEXT
        if text[3:newline].strip().lower() not in ("", "json"):
            return TEXT
        return _object_verdict(text[newline + 1 :], fenced=True)
    return _object_verdict(text, fenced=False)


def _object_verdict(body: str, fenced: bool) -> str:
    body = body.lstrip()
    if not body:
        return WAIT
    if body[0] != "{":
        return TEXT
    rest = body[1:].lstrip()
    if len(rest) < len(_NAME):
        return WAIT if _NAME.startswith(rest) else TEXT
    if not rest.startswith(_NAME):
        return TEXT
    try:
        _, end = _decoder.raw_decode(body)
    except ValueError:
        return WAIT  # not closed yet (or never: the end of the reply says)
    after = body[end:].strip()
    if not fenced:
        return WAIT if not after else TEXT
    return WAIT if FENCE.startswith(after) or after == FENCE else TEXT


def whole_call(answer: str) -> str | None:
    """The JSON text of the call that is the whole answer, or None."""
    text = answer.strip()
    fenced = _FENCED.fullmatch(text)
    body = fenced.group(1).strip() if fenced else text
    if not body.startswith("{"):
        return None
    try:
        value, end = _decoder.raw_decode(body)
    except ValueError:
        return None
    if body[end:].strip() or not isinstance(value, dict) or "name" not in value:
        return None
    return body
