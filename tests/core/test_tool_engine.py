"""Function calling in the local engines, on a tiny real quantized model with Qwen2.5's chat
template, scripted to finish a forced call with ``{"city": "Paris"}`` and to answer "It is
sunny." otherwise (qwen_tui/testing/tiny_tools.py): tool_choice honoured by opening the reply
with the call, the call returned (never shown), a result sent back and answered, a badly
written call kept as text and counted; native and bigdl-llm's engines alike."""

from __future__ import annotations

import json

import pytest

from qwen_tui.engine.types import ChatMessage, GenerationParams, NamedTool, ToolSpec
from qwen_tui.errors import EngineError
from qwen_tui.testing.tiny_tools import ANSWER, CALCULATOR, CALL_ARGUMENTS, WEATHER

GREEDY = GenerationParams(temperature=0, max_new_tokens=24, repetition_penalty=1.0)
TOOLS = [ToolSpec(**WEATHER), ToolSpec(**CALCULATOR)]
ASK = [ChatMessage("user", "What's the weather in Paris right now?")]


def chat(engine, messages=ASK, **kwargs):
    shown: list[str] = []
    reply = engine.chat(messages, GREEDY, on_text=shown.append, **kwargs)
    assert "".join(shown) == reply.text  # what streamed is the answer
    return reply


@pytest.fixture(scope="module", params=["native", "bigdl"])
def either(request, tool_quantized, tool_engine):
    """The tool model on each engine (they share the reply's loop: ``LocalEngine._chat``)."""
    if request.param == "native":
        yield tool_engine
        return
    from qwen_tui.engine.bigdl.engine import BigdlEngine

    engine = BigdlEngine(tool_quantized.path, threads=1)
    engine.load()
    yield engine
    engine.unload()


def test_a_named_tool_is_called_and_the_call_never_shows(either):
    reply = chat(either, tools=TOOLS, tool_choice=NamedTool("get_weather"))
    assert reply.text == "" and reply.stats.finish_reason == "tool_calls"
    [call] = reply.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", json.loads(CALL_ARGUMENTS))
    assert call.id.startswith("call_") and reply.stats.bad_tool_calls == 0


def test_the_result_goes_back_and_the_model_answers(tool_engine):
    call = chat(tool_engine, tools=TOOLS, tool_choice=NamedTool("get_weather"))
    history = [
        *ASK,
        ChatMessage("assistant", "", tool_calls=call.tool_calls),
        ChatMessage("tool", "18 C, sunny", tool_call_id=call.tool_calls[0].id, name="get_weather"),
    ]
    reply = chat(tool_engine, history, tools=TOOLS)
    assert (reply.text, reply.tool_calls, reply.stats.finish_reason) == (ANSWER, (), "stop")
    # the call and its result are in the prompt: more tokens than the question alone
    assert reply.stats.prompt_tokens > tool_engine.count_tokens(ASK, TOOLS) + 20


def test_required_with_one_tool_calls_it(tool_engine):
    reply = chat(tool_engine, tools=TOOLS[:1], tool_choice="required")
    assert [c.name for c in reply.tool_calls] == ["get_weather"]
    # a named tool is called once: the reply ends as its arguments close, before </tool_call>
    named = chat(tool_engine, tools=TOOLS[:1], tool_choice=NamedTool("get_weather"))
    assert named.tool_calls[0].arguments == reply.tool_calls[0].arguments
    assert named.stats.generated_tokens == reply.stats.generated_tokens - 1
    assert named.stats.finish_reason == reply.stats.finish_reason == "tool_calls"


def test_a_badly_written_call_is_the_answer_and_is_counted(tool_engine):
    # made to call the calculator, the model writes the weather's arguments: not its schema
    reply = chat(tool_engine, tools=TOOLS, tool_choice=NamedTool("calculate"))
    assert reply.tool_calls == () and reply.stats.bad_tool_calls == 1
    written = '<tool_call>\n{"name": "calculate", "arguments": {"city":"Paris"}}\n'
    assert reply.text == written  # the opening the engine wrote, and the model's rest
    assert reply.stats.finish_reason == "stop"
    # "required" among two tools leaves the name to the model, which writes none of them
    named_by_model = chat(tool_engine, tools=TOOLS, tool_choice="required")
    assert named_by_model.tool_calls == () and named_by_model.stats.bad_tool_calls == 1


def test_auto_lets_the_model_answer_and_none_hides_the_tools(tool_engine):
    auto = chat(tool_engine, tools=TOOLS)
    assert (auto.text, auto.tool_calls, auto.stats.finish_reason) == (ANSWER, (), "stop")
    assert auto.stats.prompt_tokens == tool_engine.count_tokens(ASK, TOOLS)
    none = chat(tool_engine, tools=TOOLS, tool_choice="none")
    assert none.stats.prompt_tokens == tool_engine.count_tokens(ASK)  # the tools not rendered
    offered = tool_engine.tool_tokens(TOOLS)
    assert offered == auto.stats.prompt_tokens - none.stats.prompt_tokens > 0


def test_a_choice_that_cannot_be_honoured_is_refused(tool_engine, engine):
    with pytest.raises(EngineError, match="'search', which is not among the tools"):
        tool_engine.chat(ASK, GREEDY, tools=TOOLS, tool_choice=NamedTool("search"))
    with pytest.raises(EngineError, match="no tools were given"):
        tool_engine.chat(ASK, GREEDY, tool_choice="required")
    with pytest.raises(EngineError, match="has no tool calls"):  # the tiny Qwen2's template
        engine.chat(ASK, GREEDY, tools=TOOLS)


def test_thinking_stays_apart_when_tools_are_offered(tmp_path_factory):
    """The scripted Qwen3 (its real template renders tools) thinks and answers as without
    tools: calls are read in the answer only, the thinking is split off as before."""
    from thinking_model import ANSWER as SAID
    from thinking_model import THINKING, quantized

    from qwen_tui.engine.open import open_engine

    thinker = open_engine(quantized(tmp_path_factory).path, threads=1)
    thinker.load()
    try:
        thought: list[str] = []
        reply = thinker.chat(ASK, GREEDY, tools=TOOLS, on_reasoning=thought.append)
        assert (reply.reasoning, "".join(thought), reply.text) == (THINKING, THINKING, SAID)
        assert reply.tool_calls == () and reply.stats.finish_reason == "stop"
        assert (
            reply.stats.prompt_tokens
            == thinker.count_tokens(ASK, TOOLS)
            > (thinker.count_tokens(ASK) + 100)
        )
    finally:
        thinker.unload()
