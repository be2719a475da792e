"""``qwen-tui ask --tools SERVER[,SERVER]``: the reply may call those MCP servers' tools.

Each call is shown on stderr and asked about on the terminal (y: run it, a: always for this
tool, anything else: refuse); ``--yes`` runs them all. When standard input is not a terminal
and ``--yes`` was not given, calls are refused, with a sentence saying so. ``--json`` lists
the calls and their results in the final object.
"""

from __future__ import annotations

import json
import select
import sys
import threading
from argparse import Namespace
from typing import Any, TextIO

from .ask_output import AskOutput
from .chat.tool_loop import ToolStep, run_tool_loop, takes_tools
from .chat.tools import Approval, ToolOrigin
from .config import Settings
from .engine.types import ChatMessage, Engine, GenerationParams, ToolCall
from .errors import QwenTuiError, UsageError
from .mcp.entries import McpEntry, find

SHOWN_ARGUMENTS = 300  # characters of a call's arguments the question shows


def chosen_servers(settings: Settings, spec: str) -> list[McpEntry]:
    """The [[mcp]] entries ``--tools`` names (comma-separated); raises UsageError for a name
    the config lacks or a server switched off there."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise UsageError("--tools needs the name of an [[mcp]] server.", _configured(settings))
    chosen: list[McpEntry] = []
    for name in dict.fromkeys(names):
        entry = find(settings.mcp, name)
        if entry is None:
            raise UsageError(f"No [[mcp]] server is called {name!r}.", _configured(settings))
        if not entry.enabled:
            raise UsageError(
                f"The MCP server {name!r} is switched off (enabled = false in config.toml).",
                "Set enabled = true to use it.",
            )
        chosen.append(entry)
    return chosen


def _configured(settings: Settings) -> str:
    if not settings.mcp:
        return "None is configured: see the README's 'MCP servers'."
    return "Configured: " + ", ".join(e.name for e in settings.mcp) + "."


def shown_arguments(call: ToolCall) -> str:
    """A call's arguments as compact JSON (control characters escaped), cut to a line."""
    try:
        text = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except json.JSONDecodeError:
        text = json.dumps(call.arguments, ensure_ascii=False)
    return text if len(text) <= SHOWN_ARGUMENTS else text[: SHOWN_ARGUMENTS - 1] + "…"


class TerminalApproval:
    """Asks about each call on ``err`` and reads the answer from ``stdin`` (a terminal);
    ``cancel`` (Ctrl+C) ends the wait for an answer with a refusal."""

    def __init__(self, stdin: TextIO, err: TextIO, cancel: threading.Event, yes: bool) -> None:
        self.stdin, self.err, self.cancel, self.yes = stdin, err, cancel, yes
        self.interactive = _is_terminal(stdin)

    def __call__(self, call: ToolCall, origin: ToolOrigin) -> Approval:
        if self.yes:
            return Approval.ONCE
        what = f"{origin.tool} {shown_arguments(call)} on {origin.server}"
        if not self.interactive:
            self._say(
                f"qwen-tui: refused {what}: standard input is not a terminal to ask on; "
                "pass --yes to allow tool calls.\n"
            )
            return Approval.REFUSE
        self._say(f"qwen-tui: the model calls {what}\n  run it? [y]es / [N]o / [a]lways: ")
        answer = self._read_line()
        if answer is None:
            self._say("\n")
            return Approval.REFUSE
        choice = answer.strip().lower()
        if choice in ("a", "always"):
            return Approval.ALWAYS
        return Approval.ONCE if choice in ("y", "yes") else Approval.REFUSE

    def _read_line(self) -> str | None:
        """A line from stdin, or None on end of file or once ``cancel`` is set."""
        while not self.cancel.is_set():
            ready, _, _ = select.select([self.stdin], [], [], 0.1)
            if ready:
                line = self.stdin.readline()
                return line if line else None
        return None

    def _say(self, text: str) -> None:
        self.err.write(text)
        self.err.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def step_json(step: ToolStep) -> dict[str, Any]:
    try:
        arguments: Any = json.loads(step.call.arguments)
    except json.JSONDecodeError:
        arguments = step.call.arguments
    return {
        "name": step.call.name,
        "server": step.origin.server if step.origin else None,
        "tool": step.origin.tool if step.origin else None,
        "arguments": arguments,
        "approval": step.approval.value if step.approval else None,
        "ok": step.result.ok,
        "result": step.result.text,
    }


def ask_with_tools(
    args: Namespace,
    settings: Settings,
    servers: list[McpEntry],
    engine: Engine,
    messages: list[ChatMessage],
    params: GenerationParams,
    model_name: str,
    cancel: threading.Event,
    shown: AskOutput,
    attached: list[dict[str, Any]] | None = None,
) -> int:
    """Run ``ask``'s reply with the tools of ``servers``; returns the exit code. ``attached``
    is what ``--json`` lists of the files sent with the question (name and tokens)."""
    from .mcp.client import McpClient

    if not takes_tools(engine):
        raise QwenTuiError(
            f"{model_name} cannot be given tools: its engine does not support them yet.",
            "Ask without --tools.",
        )
    err = sys.stderr
    with McpClient(servers) as client:
        statuses = client.start([e.name for e in servers])
        for status in statuses:
            if status.state != "ready":
                print(f"qwen-tui: MCP server {status.line()}; going on without it.", file=err)
        if not any(s.state == "ready" for s in statuses):
            raise QwenTuiError(
                "None of the MCP servers of --tools could start.",
                "Run `qwen-tui mcp list` to see why.",
            )

        wrote = False  # the model's text of this round is on stdout, its line not ended

        def answer(piece: str) -> None:
            nonlocal wrote
            wrote = wrote or bool(piece)
            shown.answer(piece)

        def end_line() -> None:
            nonlocal wrote
            if wrote:  # what the model wrote before its calls ends its line
                sys.stdout.write("\n")
                sys.stdout.flush()
                wrote = False

        terminal = TerminalApproval(sys.stdin, err, cancel, yes=args.yes)

        def approve(call: ToolCall, origin: ToolOrigin) -> Approval:
            end_line()
            return terminal(call, origin)

        def on_step(step: ToolStep) -> None:
            end_line()
            if args.json or step.approval is Approval.REFUSE:
                return
            result = step.result
            size = f"{len(result.text):,} character{'s' * (len(result.text) != 1)}"
            said = size if result.ok else f"error: {result.text}"
            print(f"qwen-tui: {step.call.name} -> {said}", file=err)

        outcome = run_tool_loop(
            engine,
            messages,
            client.tool_specs([e.name for e in servers]),
            client,
            approve,
            params=params,
            max_steps=settings.tool_steps,
            cancel=cancel,
            on_text=None if args.json else answer,
            on_reasoning=None if args.json else shown.thought,
            on_step=on_step,
        )
    shown.end_thinking()
    reply = outcome.reply
    if args.json:
        payload: dict[str, Any] = {"model": model_name, "reply": reply.text}
        if not args.hide_thinking:
            payload["reasoning"] = reply.reasoning
        payload["attachments"] = attached or []
        payload["tool_calls"] = [step_json(step) for step in outcome.steps]
        payload["ended"] = outcome.ended
        payload["stats"] = reply.stats.to_dict()
        print(json.dumps(payload, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
    if outcome.ended == "step_limit":
        print(
            f"qwen-tui: the model used its {settings.tool_steps} rounds of tool calls "
            "(tool_steps in config.toml) and had to answer without more.",
            file=err,
        )
    if outcome.ended == "stopped":
        print("qwen-tui: stopped; the partial reply is above.", file=err)
        return 130
    return 0
