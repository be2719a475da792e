"""`qwen-tui mcp list` and `mcp import` as real subprocesses against real MCP servers; what
`ask --tools` refuses before loading a model; the terminal's y/N/always question (on a real
pseudo-terminal); and ask's tool output with a scripted engine (the tiny real engine runs it
in tests/core/test_tool_loop_engine.py)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from argparse import Namespace

import pytest
from mcp_server import HERE, free_port, http_server, stdio_entry
from scripted_engine import ScriptedEngine, answer, calling

from qwen_tui import config, paths
from qwen_tui.ask_output import AskOutput
from qwen_tui.ask_tools import TerminalApproval, ask_with_tools
from qwen_tui.chat.tools import Approval, ToolOrigin
from qwen_tui.engine.types import ChatMessage, GenerationParams, ToolCall
from qwen_tui.errors import QwenTuiError
from qwen_tui.mcp.entries import McpEntry


def run(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "qwen_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def write_config(text: str):
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def stdio_table(name: str, extra: str = "") -> str:
    return (
        f'[[mcp]]\nname = "{name}"\ncommand = {json.dumps(sys.executable)}\n'
        f"args = [{json.dumps(str(HERE))}]\n{extra}\n"
    )


def test_mcp_list_shows_each_server_its_tools_and_why_one_failed():
    with http_server() as (url, _child):
        write_config(
            stdio_table("local")
            + f'[[mcp]]\nname = "remote"\nurl = "{url}"\n\n'
            + '[[mcp]]\nname = "broken"\ncommand = "no-such-mcp-server-here"\n\n'
            + stdio_table("off", "enabled = false")
        )
        done = run("mcp", "list")
        assert done.returncode == 1, done.stderr  # a server failed
        lines = done.stdout.splitlines()
        assert lines[0].startswith("MCP servers ([[mcp]] in ")
        assert f"  local   ready, 7 tools: {sys.executable} {HERE}" in lines
        assert f"  remote  ready, 7 tools: {url}" in lines
        assert "      local__add           Add two whole numbers." in lines
        assert "      remote__weather       The weather in a city right now." in lines
        assert (
            "  broken  failed: there is no program 'no-such-mcp-server-here' "
            "(is it installed and on PATH?)"
        ) in lines
        assert "  off     disabled (enabled = false)" in lines
        assert done.stderr == ""  # no traceback, no server's own noise

        data = json.loads(run("mcp", "list", "--json", "remote").stdout)
        [remote] = data["servers"]
        assert remote["state"] == "ready" and remote["where"] == url
        add = next(t for t in remote["tools"] if t["name"] == "remote__add")
        assert add["description"] == "Add two whole numbers."
        assert add["parameters"]["required"] == ["a", "b"]

        only = run("mcp", "list", "local")
        assert only.returncode == 0 and "broken" not in only.stdout

    missing = run("mcp", "list", "nothing")
    assert missing.returncode == 2
    assert missing.stderr == (
        "qwen-tui: No [[mcp]] server is called 'nothing'. Configured: local, remote, broken, off.\n"
    )


def test_mcp_list_shows_a_servers_text_without_its_control_characters():
    hostile = HERE.parent / "mcp_hostile.py"
    write_config(
        f'[[mcp]]\nname = "odd"\ncommand = {json.dumps(sys.executable)}\n'
        f"args = [{json.dumps(str(hostile))}]\n"
    )
    done = run("mcp", "list")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "      odd__odd_name__   [2Jclears" in done.stdout.splitlines()


def test_mcp_list_without_servers_says_how_to_add_one():
    done = run("mcp")
    assert done.returncode == 0
    assert done.stdout.startswith("No MCP servers are configured. Add [[mcp]] tables to ")


def test_mcp_import_adds_the_servers_of_a_json_file(tmp_path):
    path = write_config("# mine\ntool_steps = 2\n")
    claude = tmp_path / "claude_desktop_config.json"
    claude.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "files": {"command": "npx", "args": ["-y", "pkg", "/tmp"]},
                    "web": {"url": "http://localhost:8931/mcp"},
                    "old": {"type": "sse", "url": "http://localhost:8931/sse"},
                }
            }
        ),
        encoding="utf-8",
    )
    done = run("mcp", "import", str(claude))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Added 2 MCP servers to {path}: files, web.\n"
    assert done.stderr == (
        "qwen-tui: claude_desktop_config.json: 'old': the old SSE transport is not supported; "
        "give its streamable HTTP url; left out.\n"
    )
    assert path.read_text(encoding="utf-8").startswith("# mine\ntool_steps = 2\n")
    settings, warnings = config.load()
    assert warnings == [] and settings.mcp == (
        McpEntry("files", command="npx", args=("-y", "pkg", "/tmp")),
        McpEntry("web", url="http://localhost:8931/mcp"),
    )
    again = run("mcp", "import", str(claude))
    assert again.returncode == 0 and again.stdout == "No server added.\n"
    assert "'files': config.toml has a server of this name already" in again.stderr

    claude.write_text("{not json", encoding="utf-8")
    bad = run("mcp", "import", str(claude))
    assert bad.returncode == 2 and bad.stderr.startswith(f"qwen-tui: {claude} is not JSON (")
    gone = run("mcp", "import", str(tmp_path / "nothing.json"))
    assert gone.returncode == 2 and "There is no file" in gone.stderr


def test_ask_refuses_bad_tools_options_before_loading_a_model():
    write_config(stdio_table("local") + stdio_table("off", "enabled = false"))
    for args, said in [
        (["--tools", "nothing"], "No [[mcp]] server is called 'nothing'. Configured: local, off."),
        (["--tools", "off"], "The MCP server 'off' is switched off (enabled = false in "),
        (["--tools", ","], "--tools needs the name of an [[mcp]] server."),
        (["--yes"], "--yes allows tool calls, and only goes with --tools."),
    ]:
        done = run("ask", "hi", *args)
        assert done.returncode == 2, args
        assert done.stderr.startswith(f"qwen-tui: {said}"), done.stderr


CALL = ToolCall("call_0", "files__read", '{"path": "\\u001b[31mred"}')
ORIGIN = ToolOrigin("files__read", "files", "read")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("y\n", Approval.ONCE),
        ("yes\n", Approval.ONCE),
        ("a\n", Approval.ALWAYS),
        ("n\n", Approval.REFUSE),
        ("\n", Approval.REFUSE),
    ],
)
def test_the_terminal_question_reads_y_n_or_always(typed, expected, tmp_path):
    leader, follower = pty.openpty()
    err = (tmp_path / "err").open("w+", encoding="utf-8")
    with open(follower, encoding="utf-8", closefd=True) as stdin:
        os.write(leader, typed.encode())
        approval = TerminalApproval(stdin, err, threading.Event(), yes=False)
        assert approval.interactive
        assert approval(CALL, ORIGIN) is expected
    os.close(leader)
    err.seek(0)
    assert err.read() == (
        'qwen-tui: the model calls read {"path": "\\u001b[31mred"} on files\n'  # escaped
        "  run it? [y]es / [N]o / [a]lways: "
    )


def test_cancel_while_the_question_waits_refuses(tmp_path):
    leader, follower = pty.openpty()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with open(follower, encoding="utf-8") as stdin:
        approval = TerminalApproval(stdin, (tmp_path / "err").open("w"), cancel, yes=False)
        assert approval(CALL, ORIGIN) is Approval.REFUSE
    os.close(leader)


def test_without_a_terminal_calls_are_refused_and_yes_allows_them(tmp_path):
    err = (tmp_path / "err").open("w+", encoding="utf-8")
    with open(os.devnull, encoding="utf-8") as stdin:
        assert TerminalApproval(stdin, err, threading.Event(), yes=False)(CALL, ORIGIN) is (
            Approval.REFUSE
        )
        assert TerminalApproval(stdin, err, threading.Event(), yes=True)(CALL, ORIGIN) is (
            Approval.ONCE
        )
    err.seek(0)
    assert err.read() == (
        'qwen-tui: refused read {"path": "\\u001b[31mred"} on files: standard input is not a '
        "terminal to ask on; pass --yes to allow tool calls.\n"
    )


def _ask(capsys, engine, servers, **options):
    args = Namespace(**{"json": False, "yes": True, "hide_thinking": False, **options})
    cancel = threading.Event()
    shown = AskOutput(sys.stdout, sys.stderr, cancel)
    code = ask_with_tools(
        args,
        config.Settings(tool_steps=4),
        servers,
        engine,
        [ChatMessage("user", "What is 2 + 3?")],
        GenerationParams(),
        "scripted",
        cancel,
        shown,
    )
    return code, capsys.readouterr()


def test_ask_shows_each_call_on_stderr_and_the_answer_on_stdout(capsys):
    port = free_port()
    servers = [stdio_entry("tests"), McpEntry("gone", url=f"http://127.0.0.1:{port}/mcp")]
    reply = calling(("tests__add", '{"a": 2, "b": 3}'), ("tests__refuse", '{"reason": "no"}'))
    engine = ScriptedEngine(reply, answer("It is 5."))
    code, out = _ask(capsys, engine, servers)
    assert code == 0 and out.out == "It is 5.\n"
    assert out.err == (
        f"qwen-tui: MCP server gone (failed: nothing answers at http://127.0.0.1:{port}/mcp); "
        "going on without it.\n"
        "qwen-tui: tests__add -> 1 character\n"
        "qwen-tui: tests__refuse -> error: Error executing tool refuse: no\n"
    )
    assert [t.name for t in engine.asked[0]["tools"]][:2] == ["tests__add", "tests__weather"]

    code, out = _ask(capsys, ScriptedEngine(reply, answer("It is 5.")), servers, json=True)
    payload = json.loads(out.out)
    assert payload["reply"] == "It is 5." and payload["ended"] == "answered"
    assert [(c["tool"], c["ok"], c["result"]) for c in payload["tool_calls"]] == [
        ("add", True, "5"),
        ("refuse", False, "Error executing tool refuse: no"),
    ]


def test_ask_stops_when_no_server_of_tools_starts(capsys):
    with pytest.raises(QwenTuiError, match="None of the MCP servers of --tools could start"):
        _ask(capsys, ScriptedEngine(answer("x")), [McpEntry("x", command="no-such-mcp-here")])


def test_ask_says_so_when_the_engine_cannot_take_tools(capsys):
    class Untooled:
        def chat(self, messages, params=None, *, on_text=None, cancel=None):
            raise AssertionError("not to be called")

    with pytest.raises(QwenTuiError, match="scripted cannot be given tools: its engine"):
        _ask(capsys, Untooled(), [stdio_entry()])
