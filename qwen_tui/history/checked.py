"""What a chat's ``params``, a reply's ``stats``, a message's files and tool calls may hold,
checked value by value.

Both are JSON objects that came from our own code, but also from an export a user imports or
a database an older version wrote: a value of the wrong type (``"decode_tokens_per_s": "x"``,
``"enable_thinking": "x"``) must not reach the code that formats or samples with it. So every
read and every import goes through here: what is right is kept, what is wrong is dropped, with
one sentence per dropped value (an import reports them; a read drops them quietly). Keys we
do not know are kept as they are: nothing reads them.
"""

from __future__ import annotations

import math
from typing import Any, get_args, get_type_hints

from ..config import check_value
from ..engine.types import SEED_MAX, Attachment, GenerationParams, ReplyStats, ToolCall
from ..text import is_utf8, quoted

FINISH_REASONS = ("stop", "length", "cancelled", "tool_calls", "")
_STATS = get_type_hints(ReplyStats)
_WHOLE_STATS = {name for name, kind in _STATS.items() if kind is int}
_NUMBER_STATS = {name for name, kind in _STATS.items() if kind is float} | {"thinking_seconds"}
_TEXT_STATS = {"model", "format"}  # which model wrote the reply, in which low-bit format
_PARAMS = {name: get_args(kind)[0] for name, kind in get_type_hints(GenerationParams).items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def param_problem(name: str, value: Any, ranges: bool = True) -> str | None:
    """Why ``value`` cannot be the ``GenerationParams`` field ``name``, as "<name> must ...,
    not <value>" (None: it can); ``ranges=False`` checks the type only."""
    kind, rule = _PARAMS[name], None
    if kind is bool:
        rule = None if isinstance(value, bool) else "must be true or false"
    elif name == "seed":
        ok = type(value) is int and 0 <= value <= SEED_MAX
        rule = None if ok else f"must be a whole number from 0 to {SEED_MAX}"
    elif not _is_number(value) or (kind is int and type(value) is not int):
        rule = "must be a whole number" if kind is int else "must be a number"
    elif ranges:
        try:
            check_value(name, value)  # the ranges the settings have
        except ValueError as exc:
            return str(exc).rstrip(".")
    return None if rule is None else f"{name} {rule}, not {quoted(value)}"


def stat_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be the reply statistic ``name``, as "<name> must ..., not <value>"
    (None: it can, or the name is not one we read)."""
    if name in _WHOLE_STATS:
        ok = type(value) is int and value >= 0
        rule = None if ok else "must be a whole number of 0 or more"
    elif name in _NUMBER_STATS:
        ok = _is_number(value) and value >= 0
        rule = None if ok else "must be a number of 0 or more"
    elif name in _TEXT_STATS:
        rule = None if isinstance(value, str) else "must be text"
    elif name == "params":  # what the reply was sampled with
        rule = None if value is None or isinstance(value, dict) else "must be an object"
    elif name == "finish_reason":
        ok = value in FINISH_REASONS
        rule = None if ok else "must be one of " + ", ".join(map(repr, FINISH_REASONS))
    else:
        rule = None
    return None if rule is None else f"{name} {rule}, not {quoted(value)}"


def clean_params(
    params: Any, where: str = "params", ranges: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """(the usable values of a chat's ``params``, a sentence per value dropped)."""
    if not isinstance(params, dict):
        return {}, ([] if params is None else [f"{where} is not an object; dropped."])
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in params.items():
        if name in GenerationParams.__dataclass_fields__ and value is not None:
            problem = param_problem(name, value, ranges)
            if problem is not None:
                dropped.append(f"{where}: {problem}; dropped.")
                continue
        kept[name] = value
    return kept, dropped


def clean_stats(stats: Any, where: str = "stats") -> tuple[dict[str, Any] | None, list[str]]:
    """(the usable values of a reply's ``stats``, or None; a sentence per value dropped).
    The parameters a reply was sampled with (``stats["params"]``) are checked for their
    types only: a model's own defaults may lie outside the ranges the settings allow."""
    if not isinstance(stats, dict):
        return None, ([] if stats is None else [f"{where} is not an object; dropped."])
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in stats.items():
        problem = stat_problem(name, value)
        if problem is not None:
            dropped.append(f"{where}: {problem}; dropped.")
            continue
        if name == "params" and value is not None:
            value, notes = clean_params(value, f"{where}: params", ranges=False)
            dropped += notes
        kept[name] = value
    return kept, dropped


def _entry_problem(entry: Any, fields: tuple[str, ...], optional: tuple[str, ...]) -> str | None:
    """Why ``entry`` cannot be a file or a call: what follows "file 1" in the sentence."""
    if not isinstance(entry, dict):
        return f" must be an object, not {quoted(entry)}"
    for name in fields + optional:
        value = entry.get(name)
        if (name in fields or value is not None) and not is_utf8(value):
            return f"'s {name} must be a string, not {quoted(value)}"
    return None if entry["name"].strip() else "'s name must not be empty"


def _entries(
    value: Any, where: str, noun: str, fields: tuple[str, ...], optional: tuple[str, ...] = ()
) -> tuple[list[dict[str, str]], list[str]]:
    """(the entries of the list ``value`` whose ``fields`` are strings, a name among them not
    empty, and whose ``optional`` ones are strings where present; a sentence per one dropped).
    None is an empty list."""
    if value is None:
        return [], []
    if not isinstance(value, list):
        return [], [f"{where} must be a list, not {quoted(value)}; dropped."]
    kept: list[dict[str, str]] = []
    dropped: list[str] = []
    for i, entry in enumerate(value, start=1):
        problem = _entry_problem(entry, fields, optional)
        if problem is None:
            kept.append(entry)
        else:
            dropped.append(f"{where}: {noun} {i}{problem}; dropped.")
    return kept, dropped


def clean_attachments(
    value: Any, where: str = "attachments"
) -> tuple[tuple[Attachment, ...], list[str]]:
    """(the files of a message: ``{"name", "text"}``, a sentence per file dropped)."""
    kept, dropped = _entries(value, where, "file", ("name", "text"))
    return tuple(Attachment(e["name"], e["text"]) for e in kept), dropped


def clean_tool_calls(
    value: Any, where: str = "tool_calls"
) -> tuple[tuple[ToolCall, ...], dict[str, str], list[str]]:
    """(the calls of a message: ``{"id", "name", "arguments"}``, the MCP server each call id
    went to where one is stored (``"server"``), a sentence per call dropped)."""
    kept, dropped = _entries(value, where, "call", ("id", "name", "arguments"), ("server",))
    calls = tuple(ToolCall(e["id"], e["name"], e["arguments"]) for e in kept)
    return calls, {e["id"]: e["server"] for e in kept if e.get("server")}, dropped


def clean_text(value: Any, where: str) -> tuple[str, list[str]]:
    """A text field of a message ("" when absent), or "" and why it was dropped."""
    if value is None or is_utf8(value):
        return value or "", []
    return "", [f"{where} must be a string, not {quoted(value)}; dropped."]
