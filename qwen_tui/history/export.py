"""A conversation as a JSON export (read back by ``ConversationStore.import_json``) and as
Markdown; and the checks an export goes through before it is imported: ``validate`` refuses
what cannot be a conversation, ``checked`` drops the values in it that are wrong."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from qwen_tui import paths
from qwen_tui.engine.attachments import fence_for, fenced, inline_code
from qwen_tui.history.checked import (
    clean_attachments,
    clean_params,
    clean_stats,
    clean_text,
    clean_tool_calls,
)
from qwen_tui.history.db import to_json as column_json
from qwen_tui.history.records import insert_message, message_row, tool_call_entry
from qwen_tui.text import is_utf8

if TYPE_CHECKING:
    from qwen_tui.history.records import Conversation, Message

FORMAT = "qwen-tui-conversation"
# 2: messages may hold files, tool calls and tool results (an export without any is still
# written as 1, which older versions read); both are read
VERSION, VERSIONS = 2, (1, 2)
ROLES = ("system", "user", "assistant", "tool")
STATES = ("complete", "streaming", "stopped", "error")


def to_json(c: Conversation, messages: list[Message]) -> dict[str, Any]:
    exported = [_exported(m) for m in messages]
    newer = any(set(m) & {"attachments", "tool_calls", "tool_call_id", "name"} for m in exported)
    return {
        "format": FORMAT,
        "version": VERSION if newer else 1,
        "title": c.title,
        "created_at": c.created_at,
        "system_prompt": c.system_prompt,
        "params": c.params,
        "model": c.model,
        "messages": exported,
    }


def to_markdown(c: Conversation, messages: list[Message]) -> str:
    parts = [f"# {c.title}", f"_Started {_when(c.created_at)}_"]
    if c.system_prompt:
        parts.append(f"## System prompt\n\n{c.system_prompt}")
    headings = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
    marks = {
        "stopped": "_(stopped)_",
        "error": "_(error)_",
        "streaming": "_(incomplete)_",
    }
    for m in messages:
        mark = f"\n\n{marks[m.state]}" if m.state in marks else ""
        if m.state == "complete" and (m.stats or {}).get("finish_reason") == "length":
            mark = "\n\n_(cut at max new tokens)_"
        if mark and m.reasoning and not m.content:  # it got no further than thinking
            mark = mark.replace(")_", " while thinking)_")
        about = _about(m) if m.role == "assistant" else ""
        heading = f"## {headings[m.role]} · {_when(m.created_at)}"
        body = (_thought(m.reasoning) + m.content).rstrip("\n") if m.reasoning else m.content
        body = (
            "\n\n".join(filter(None, [body, *_files_and_calls(m)]))
            if m.role != "tool"
            else (fenced(f"result of {m.tool_name or 'a tool'}", m.content))
        )
        parts.append(f"{heading}\n\n{about}{body}{mark}")
    return "\n\n".join(parts) + "\n"


def write_files(c: Conversation, messages: list[Message], folder: Path) -> tuple[Path, Path]:
    """Write the Markdown and the JSON export into ``folder`` (created if missing, readable
    by the user alone; an existing one is left as it is) as ``<title>-<id>.md`` and
    ``.json``, each readable by the user alone. Returns their paths."""
    paths.private_dir(folder)
    slug = re.sub(r"[^\w-]+", "-", c.title.lower()).strip("-")[:40] or "chat"
    md, js = folder / f"{slug}-{c.id}.md", folder / f"{slug}-{c.id}.json"
    paths.write_private(md, to_markdown(c, messages))
    paths.write_private(js, json.dumps(to_json(c, messages), ensure_ascii=False, indent=2))
    return md, js


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _about(m: Message) -> str:
    """ "_qwen2.5-coder (mixed_int5) · temperature 0.7 · top_p 0.8_" for a reply's export."""
    stats = m.stats or {}
    if not stats.get("model"):
        return ""
    params = " · ".join(f"{k} {v}" for k, v in (stats.get("params") or {}).items())
    return (
        f"_{stats['model']} ({stats.get('format', '?')})"
        + (f" · {params}" if params else "")
        + "_\n\n"
    )


def _files_and_calls(m: Message) -> list[str]:
    """What the Markdown export shows of a message after its text: each file fenced under
    its name, each call with its tool, server and arguments (a tool's result is fenced in
    its text's place)."""
    out = [fenced(a.name, a.text) for a in m.attachments]
    for call in m.tool_calls:
        server = m.tool_servers.get(call.id)
        fence = fence_for(call.arguments)
        out.append(
            f"**Tool call** {inline_code(call.name)}"
            + (f" on {inline_code(server)}" if server else "")
            + f"\n\n{fence}json\n{call.arguments}\n{fence}"
        )
    return out


def _exported(m: Message) -> dict[str, Any]:
    """A message in the JSON export; its thinking as ``reasoning``, only when it thought, and
    its files, calls and what a tool's result answers only where there are some."""
    out: dict[str, Any] = {"role": m.role}
    if m.reasoning:
        out["reasoning"] = m.reasoning
    out["content"] = m.content
    if m.attachments:
        out["attachments"] = [{"name": a.name, "text": a.text} for a in m.attachments]
    if m.tool_calls:
        out["tool_calls"] = [tool_call_entry(c, m.tool_servers.get(c.id)) for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.tool_name:
        out["name"] = m.tool_name
    out.update(state=m.state, stats=m.stats, created_at=m.created_at)
    return out


def _thought(reasoning: str) -> str:
    """A reply's thinking for the Markdown export: a quoted block headed "Thinking", before
    the answer (every line quoted, so nothing in it can end the block)."""
    if not reasoning:
        return ""
    lines = [f"> {line}".rstrip() for line in reasoning.splitlines()]
    return "> **Thinking**\n>\n" + "\n".join(lines) + "\n\n"  # the answer follows


def number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None


def validate(data: Any) -> None:
    """Raise ``ValueError`` unless ``data`` is a version-1 conversation export."""

    def fail(why: str) -> NoReturn:
        raise ValueError(f"This is not a valid qwen-tui conversation export: {why}.")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        fail(f'"format" must be "{FORMAT}"')
    if type(data.get("version")) is not int or data["version"] not in VERSIONS:
        fail(f'"version" is {data.get("version")!r}, only 1 and {VERSION} are supported')
    text_or_null = ((str, type(None)), "text or null")
    expected = {
        "title": ((str,), "text"),
        "system_prompt": text_or_null,
        "model": text_or_null,
        "params": ((dict, type(None)), "object or null"),
        "messages": ((list,), "a list"),
    }
    for key, (kinds, description) in expected.items():
        if not isinstance(data.get(key), kinds):
            fail(f'"{key}" must be {description}')
        if isinstance(data.get(key), str) and not is_utf8(data[key]):
            fail(f'"{key}" holds a character that is not valid Unicode (a lone surrogate)')
    for i, m in enumerate(data["messages"], start=1):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            fail(f"message {i} must have a role of {', '.join(ROLES)}")
        if not isinstance(m.get("content"), str):
            fail(f"message {i} has no text content")
        if not is_utf8(m["content"]):
            fail(f"message {i} holds a character that is not valid Unicode (a lone surrogate)")
        if m.get("state", "complete") not in STATES:
            fail(f"message {i} has an unknown state {m.get('state')!r}")
        if not isinstance(m.get("stats"), (dict, type(None))):
            fail(f"message {i} has stats that are not an object")
        if not isinstance(m.get("reasoning", ""), str):
            fail(f"message {i} has reasoning that is not text")
        if not is_utf8(m.get("reasoning", "")):
            fail(f"message {i} holds a character that is not valid Unicode (a lone surrogate)")


def checked(data: Any) -> tuple[dict[str, Any], list[str]]:
    """``data`` (validated) with its wrong ``params``, ``stats``, files, tool calls and
    tool-result fields dropped, and a sentence per value dropped; each message gains
    ``tool_servers`` (from its calls). ``data`` itself is left as it was."""
    validate(data)
    params, dropped = clean_params(data.get("params"))
    messages = []
    for i, m in enumerate(data["messages"], start=1):
        where = f"message {i}"
        stats, notes = clean_stats(m.get("stats"), f"{where} stats")
        dropped += notes
        files, notes = clean_attachments(m.get("attachments"), f"{where} attachments")
        dropped += notes
        calls, servers, notes = clean_tool_calls(m.get("tool_calls"), f"{where} tool_calls")
        dropped += notes
        call_id, notes = clean_text(m.get("tool_call_id"), f"{where} tool_call_id")
        dropped += notes
        name, notes = clean_text(m.get("name"), f"{where} name")
        dropped += notes
        kept: dict[str, Any] = {"stats": stats, "attachments": files, "tool_calls": calls}
        kept.update(tool_servers=servers, tool_call_id=call_id, name=name)
        messages.append({**m, **kept})
    return {**data, "params": params or None, "messages": messages}, dropped


def insert_messages(
    conn: sqlite3.Connection,
    conversation_id: int,
    messages: list[dict[str, Any]],
    now: Callable[[], float],
) -> None:
    """Store the messages of an export ``checked`` passed in the conversation (inside its
    transaction); one that was streaming when exported is stopped (nothing streams it now)."""
    for m in messages:
        state = m.get("state", "complete")
        values = message_row(
            conversation_id,
            m["role"],
            m["content"],
            "stopped" if state == "streaming" else state,
            stats=column_json(m["stats"], "stats"),
            reasoning=m.get("reasoning") or "",
            attachments=m["attachments"],
            tool_calls=m["tool_calls"],
            tool_servers=m["tool_servers"],
            tool_call_id=m["tool_call_id"],
            tool_name=m["name"],
        )
        values["created_at"] = number(m.get("created_at")) or now()
        insert_message(conn, values)
