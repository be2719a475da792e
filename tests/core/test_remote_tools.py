"""Tools through the remote backends: each server is given the tools and the tool choice in the
words it reads, and the calls it streams back (recorded from vLLM, llama-server and ollama's
shapes, ``tests/fixtures/openai_streams/*/chat_tool_call.sse``) come back as ``Reply.tool_calls``;
a call that does not match the tool's schema is text, counted."""

from __future__ import annotations

import json

import pytest
from openai_fake import engine_for

from qwen_tui.engine.types import ChatMessage, NamedTool, ToolCall, ToolSpec
from qwen_tui.testing.tiny_tools import CALCULATOR, WEATHER

TOOLS = [ToolSpec(**WEATHER), ToolSpec(**CALCULATOR)]
ASK = [ChatMessage("user", "Weather in Paris and Rome?")]
THOUGHT = "The user wants the weather in Paris and Rome."
IDS = {
    "vllm": ["chatcmpl-tool-9c1e4a7b2d5f48e3a6b0c8d1e2f3a4b5",
             "chatcmpl-tool-4d2f8e1a6b3c47d9b0e5a7c2f1d8e3b6"],
    "llama_server": ["Jd82kTq0mZ4xWv7sLp3nB9yR1cFh6aUe", "Qe5rT8yU1iO4pA7sD0fG3hJ6kL9zX2cV"],
    "ollama": ["call_k2x9a1b3", "call_p7m4q8z1"],
}  # fmt: skip


def chat(fake, tools=TOOLS, messages=ASK, **kwargs):
    engine = engine_for(fake)
    engine.load()
    shown: list[str] = []
    reply = engine.chat(messages, on_text=shown.append, tools=tools, **kwargs)
    return reply, "".join(shown)


@pytest.mark.parametrize("flavor", ["vllm", "llama_server", "ollama"])
def test_the_calls_a_server_streams_are_put_together(fake_openai, flavor):
    fake = fake_openai(flavor, script="chat_tool_call.sse")
    reply, shown = chat(fake)
    assert (shown, reply.text, reply.reasoning) == ("", "", THOUGHT)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        (IDS[flavor][0], "get_weather", {"city": "Paris"}),
        (IDS[flavor][1], "get_weather", {"city": "Rome"}),
    ]
    assert reply.stats.finish_reason == "tool_calls" and reply.stats.bad_tool_calls == 0
    sent = fake.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "calculate"]
    assert sent["tools"][0] == {"type": "function", "function": WEATHER}


def test_a_call_that_does_not_match_the_schema_is_text(fake_openai):
    fake = fake_openai("vllm", script="chat_tool_call.sse")
    strict = {**WEATHER["parameters"], "required": ["city", "country"]}
    reply, shown = chat(fake, tools=[ToolSpec("get_weather", "", strict)])
    assert reply.tool_calls == () and reply.stats.bad_tool_calls == 2
    assert shown == reply.text and reply.text.count('"name": "get_weather"') == 2
    assert reply.stats.finish_reason == "stop"


@pytest.mark.parametrize(
    "flavor, choice, tools, sent_choice",
    [
        ("vllm", NamedTool("calculate"), ["get_weather", "calculate"],
         {"type": "function", "function": {"name": "calculate"}}),
        ("vllm", "required", ["get_weather", "calculate"], "required"),
        ("llama_server", NamedTool("calculate"), ["calculate"], "required"),
        ("llama_server", "auto", ["get_weather", "calculate"], "auto"),
        ("ollama", NamedTool("calculate"), ["calculate"], None),
        ("ollama", "auto", ["get_weather", "calculate"], None),
    ],
)  # fmt: skip
def test_the_tool_choice_in_each_servers_words(fake_openai, flavor, choice, tools, sent_choice):
    fake = fake_openai(flavor, script="chat_tool_call.sse")
    chat(fake, tool_choice=choice)
    sent = fake.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == tools
    assert sent.get("tool_choice") == sent_choice
    assert sent.get("parallel_tool_calls") is (True if flavor == "llama_server" else None)


@pytest.mark.parametrize("flavor", ["vllm", "llama_server", "ollama"])
def test_none_sends_no_tools_and_the_history_goes_in_openais_shape(fake_openai, flavor):
    fake = fake_openai(flavor)  # the recorded hello: no calls
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    history = [
        *ASK,
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "18 C", tool_call_id="call_1", name="get_weather"),
    ]
    reply, _ = chat(fake, messages=history, tool_choice="none")
    assert reply.tool_calls == () and reply.stats.finish_reason == "stop"
    sent = fake.requests[-1]
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": "18 C", "tool_call_id": "call_1"},
    ]  # fmt: skip


def test_the_tools_count_in_the_estimate(fake_openai):
    engine = engine_for(fake_openai("vllm"))
    engine.load()
    offered = engine.tool_tokens(TOOLS)
    assert offered > len(json.dumps([WEATHER, CALCULATOR])) // 4
    assert engine.count_tokens(ASK, TOOLS) == engine.count_tokens(ASK) + offered
    assert engine.tool_tokens([]) == 0
