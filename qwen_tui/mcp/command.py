"""``qwen-tui mcp list``: start the configured servers and show each one's state and tools
(a server that fails is one line saying why); ``qwen-tui mcp import FILE``: add the servers of
an ``mcpServers`` JSON file (Claude Desktop's, oterm's) to config.toml as ``[[mcp]]`` tables."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from .. import config, paths
from ..errors import UsageError
from .entries import from_json

DESCRIPTION_WIDTH = 100


def run_mcp(args: Namespace, settings: config.Settings) -> int:
    if getattr(args, "mcp_command", None) == "import":
        return import_file(Path(args.file).expanduser(), settings)
    return list_servers(settings, args.names or None, as_json=args.json)


def list_servers(settings: config.Settings, names: list[str] | None, as_json: bool) -> int:
    from .client import McpClient

    if not settings.mcp:
        print(
            f"No MCP servers are configured. Add [[mcp]] tables to {paths.config_file()} "
            "(the README's 'MCP servers' shows how), or `qwen-tui mcp import FILE` to take "
            "those of an mcpServers JSON file."
        )
        return 0
    known = [e.name for e in settings.mcp]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise UsageError(
            f"No [[mcp]] server is called {unknown[0]!r}.", f"Configured: {', '.join(known)}."
        )
    with McpClient(settings.mcp) as client:
        client.start(names)
        statuses = client.servers()
    if names:
        statuses = [s for s in statuses if s.name in names]
    if as_json:
        rows = [
            {
                "name": s.name,
                "where": s.where,
                "state": s.state,
                "detail": s.detail,
                "tools": [
                    {"name": t.name, "description": t.description, "parameters": t.parameters}
                    for t in s.tools
                ],
            }
            for s in statuses
        ]
        print(json.dumps({"servers": rows}, indent=2, ensure_ascii=False))
    else:
        print(f"MCP servers ([[mcp]] in {paths.config_file()}):")
        width = max(len(s.name) for s in statuses)
        for s in statuses:
            if s.state == "failed":
                state = f"failed: {s.detail}"
            elif s.state == "ready":
                state = f"ready, {len(s.tools)} tool{'s' * (len(s.tools) != 1)}: {s.where}"
            elif s.state == "disabled":
                state = "disabled (enabled = false)"
            else:
                state = s.state
            print(f"  {s.name:<{width}}  {printable(state)}")
            tool_width = max((len(t.name) for t in s.tools), default=0)
            for t in s.tools:
                print(f"      {t.name:<{tool_width}}  {summary(t.description)}")
    return 1 if any(s.state == "failed" for s in statuses) else 0


def printable(text: str) -> str:
    """``text`` on one line without control characters (a server's text may hold escapes
    that would drive the terminal)."""
    return "".join(c if c.isprintable() else " " for c in " ".join(text.split()))


def summary(description: str) -> str:
    """A tool's description as one line, cut at DESCRIPTION_WIDTH characters."""
    line = printable(description)
    return line if len(line) <= DESCRIPTION_WIDTH else line[: DESCRIPTION_WIDTH - 1] + "…"


def import_file(path: Path, settings: config.Settings) -> int:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"There is no file {path}.", "Give the path of an mcpServers JSON file."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} could not be read ({exc}).", "Check the file.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON ({exc}).", "Give an mcpServers JSON file.") from None
    entries, warnings = from_json(data)
    known = {e.name for e in settings.mcp}
    added = [e for e in entries if e.name not in known]
    warnings += [
        f"{e.name!r}: config.toml has a server of this name already; left as it is."
        for e in entries
        if e.name in known
    ]
    for warning in warnings:
        print(f"qwen-tui: {path.name}: {warning}", file=sys.stderr)
    if not added:
        print("No server added.")
        return 0 if entries else 1
    config.save(config.updated(settings, mcp=settings.mcp + tuple(added)))
    names = ", ".join(e.name for e in added)
    servers = f"{len(added)} MCP server{'s' * (len(added) != 1)}"
    print(f"Added {servers} to {paths.config_file()}: {names}.")
    return 0
