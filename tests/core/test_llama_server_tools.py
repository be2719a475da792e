"""Tools through a real OpenAI-compatible server: llama-cpp-python 0.3.36's (tests/llama_peer.py)
serving a GGUF of the tiny model with Qwen2.5's template, scripted to write a call unasked
(qwen_tui/testing/tiny_tools.py, ``AUTO_CALL``).

That server renders the tools with the GGUF's own template but reads no call under tool_choice
auto: the model's ``<tool_call>`` comes as content, and RemoteEngine reads it as the local
engine does. A named tool it forces with a grammar of the tool's schema and streams as
``tool_calls`` (the id and name repeated in every piece)."""

from __future__ import annotations

import json

import pytest
from gguf_fixture import write_gguf
from llama_peer import llama_server

from qwen_tui.engine.remote import RemoteEngine
from qwen_tui.engine.types import ChatMessage, GenerationParams, NamedTool, ToolSpec
from qwen_tui.remotes import RemoteEntry
from qwen_tui.testing.tiny_tools import AUTO_CALL, CALCULATOR, WEATHER, build_tiny_tool_model

GREEDY = GenerationParams(temperature=0, max_new_tokens=48, repetition_penalty=1.0)
ASK = [ChatMessage("user", "What's the weather in Rome?")]
TOOLS = [ToolSpec(**WEATHER), ToolSpec(**CALCULATOR)]


@pytest.fixture(scope="module")
def calling(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-tools")
    source = build_tiny_tool_model(folder / "src", answer=AUTO_CALL, forced=False)
    write_gguf(source, folder / "tools.gguf", {})
    with llama_server(folder / "tools.gguf", "tools", n_ctx=1024) as base:  # tools: ~560
        remote = RemoteEngine(RemoteEntry("peer", base, "tools"))
        remote.load()
        yield remote


def test_a_call_the_server_leaves_in_the_content_is_read_here(calling):
    shown: list[str] = []
    reply = calling.chat(ASK, GREEDY, on_text=shown.append, tools=TOOLS)
    assert (reply.text, "".join(shown)) == ("", "")  # no markup reached the screen
    [call] = reply.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Rome"})
    assert reply.stats.finish_reason == "tool_calls"
    without = calling.chat(ASK, GREEDY)  # no tools offered: the markup is text
    assert without.text == AUTO_CALL and without.tool_calls == ()


def test_a_named_tool_is_forced_by_the_server_and_streamed_as_calls(calling):
    cities = {**WEATHER["parameters"]["properties"]["city"], "enum": ["Paris", "Rome"]}
    weather = ToolSpec("get_weather", "", {**WEATHER["parameters"], "properties": {"city": cities}})
    reply = calling.chat(ASK, GREEDY, tools=[weather], tool_choice=NamedTool("get_weather"))
    [call] = reply.tool_calls
    assert call.name == "get_weather" and json.loads(call.arguments)["city"] in ("Paris", "Rome")
    assert call.id.startswith("call_") and reply.text == ""
    assert reply.stats.finish_reason == "tool_calls"
