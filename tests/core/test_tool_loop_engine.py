"""End to end on the tiny real engine: a tiny Qwen3 scripted to call a tool
(tests/tool_caller.py) writes its call, the engine reads it back as a ToolCall, the loop runs
it on a real MCP server (tests/mcp_server.py) and the result reaches the model; the same
through `qwen-tui ask --tools`.

These need the engine's half of issue 25 (``tools`` and ``tool_choice`` in
``LocalEngine.chat``); until it is there they skip, saying so."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
import tool_caller
from mcp_server import HERE, stdio_entry

from qwen_tui import paths
from qwen_tui.chat.tool_loop import run_tool_loop
from qwen_tui.chat.tools import Approval
from qwen_tui.engine.local import LocalEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.mcp.client import McpClient

pytestmark = pytest.mark.skipif(
    "tools" not in inspect.signature(LocalEngine.chat).parameters,
    reason="LocalEngine.chat takes no tools yet (the engine's part of issue 25)",
)

NO_THINKING = GenerationParams(enable_thinking=False, temperature=0, max_new_tokens=48)


@pytest.fixture(scope="module")
def caller(tmp_path_factory):
    return tool_caller.quantized(tmp_path_factory)


def test_the_tiny_engine_calls_a_real_tool_and_reads_its_result(caller):
    from qwen_tui.engine.open import open_engine

    engine = open_engine(caller.path, threads=1)
    engine.load()
    try:
        with McpClient([stdio_entry("tests")]) as client:
            client.start()
            outcome = run_tool_loop(
                engine,
                [ChatMessage("user", "What is 2 + 3?")],
                client.tool_specs(),
                client,
                lambda call, origin: Approval.ONCE,
                params=NO_THINKING,
                max_steps=1,
            )
    finally:
        engine.unload()
    [step] = outcome.steps
    assert (step.origin.server, step.origin.tool) == ("tests", "add")
    assert json.loads(step.call.arguments) == {"a": 2, "b": 3}
    assert step.result.ok and step.result.text == "5"
    first, result, last = outcome.messages
    assert first.tool_calls == (step.call,) and outcome.reply.stats.prompt_tokens > 0
    assert result == ChatMessage("tool", "5", tool_call_id=step.call.id, name="tests__add")
    # it calls whatever it is asked, so after its one round it is made to answer
    assert outcome.ended == "step_limit" and last.role == "assistant" and not last.tool_calls


def _ask(caller, *args, stdin=subprocess.DEVNULL):
    target = paths.models_dir() / caller.folder_name
    if not target.exists():
        import shutil

        shutil.copytree(caller.path, target)
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    command, program = json.dumps(sys.executable), json.dumps(str(HERE))
    config.write_text(
        f'tool_steps = 1\n\n[[mcp]]\nname = "tests"\ncommand = {command}\nargs = [{program}]\n',
        encoding="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-m", "qwen_tui", "ask", "What is 2 + 3?", "--model",
         caller.folder_name, "--tools", "tests", "--no-think", "--temperature", "0", *args],
        capture_output=True, text=True, timeout=300, stdin=stdin, env=dict(os.environ),
    )  # fmt: skip


def test_ask_tools_yes_runs_the_call_and_json_lists_it(caller):
    done = _ask(caller, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["tool_calls"] == [
        {
            "name": "tests__add",
            "server": "tests",
            "tool": "add",
            "arguments": {"a": 2, "b": 3},
            "approval": "once",
            "ok": True,
            "result": "5",
        }
    ]
    assert payload["ended"] == "step_limit"
    assert "used its 1 rounds of tool calls" in done.stderr


def test_ask_tools_without_a_terminal_or_yes_refuses_with_a_sentence(caller):
    done = _ask(caller, "--json")
    assert done.returncode == 0, done.stderr
    assert (
        'qwen-tui: refused add {"a": 2, "b": 3} on tests: standard input is not a terminal '
        "to ask on; pass --yes to allow tool calls."
    ) in done.stderr
    [call] = json.loads(done.stdout)["tool_calls"]
    assert call["approval"] == "refuse" and not call["ok"]
