"""Tool calls as a server streams them, put together and checked.

``delta.tool_calls`` pieces carry an ``index`` (which call); the first piece of a call its
``id``, ``type`` and ``function.name``, the rest pieces of ``function.arguments`` (vLLM,
llama-server). ollama sends each call whole in one piece; llama-cpp-python repeats the id and
name in every piece. Put together, a call is checked as one the local engine reads
(``engine/tools/parse.py``): a tool that was offered, arguments that are a JSON object matching
its schema; a call that is not is kept as text, in the JSON form, and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..tools import read_call
from ..types import ToolCall, ToolSpec


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: str = ""


class CallAssembler:
    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def feed(self, pieces: Any) -> bool:
        """Take a delta's ``tool_calls``; True if it carried any."""
        if not isinstance(pieces, list):
            return False
        took = False
        for position, piece in enumerate(pieces):
            if not isinstance(piece, dict):
                continue
            index = piece.get("index", position)
            index = index if isinstance(index, int) and not isinstance(index, bool) else position
            partial = self._calls.setdefault(index, _Partial())
            if isinstance(piece.get("id"), str) and not partial.id:
                partial.id = piece["id"]
            function = piece.get("function")
            if isinstance(function, dict):
                name = function.get("name")
                if isinstance(name, str) and name and not partial.name:
                    partial.name = name  # once: llama-cpp-python sends it with every piece
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    partial.arguments += arguments
                elif isinstance(arguments, dict):  # a whole object, not text
                    partial.arguments += json.dumps(arguments, ensure_ascii=False)
            took = True
        return took

    def finish(self, tools: Sequence[ToolSpec]) -> tuple[list[ToolCall], list[str]]:
        """(the well-formed calls, each badly written one as text)."""
        offered = {tool.name: tool for tool in tools}
        calls: list[ToolCall] = []
        bad: list[str] = []
        for _, partial in sorted(self._calls.items()):
            arguments = partial.arguments.strip() or "{}"
            block = (
                f'<tool_call>\n{{"name": {json.dumps(partial.name, ensure_ascii=False)}, '
                f'"arguments": {arguments}}}\n</tool_call>'
            )
            call, _ = read_call(block, offered)
            if call is None:
                bad.append(block)
            else:
                calls.append(replace(call, id=partial.id) if partial.id else call)
        return calls, bad
