"""Function calling through `qwen-tui serve`, driven by the official openai client, on the tiny
real quantized model with Qwen2.5's template, scripted to finish a forced call with
``{"city": "Paris"}`` and to answer "It is sunny." otherwise (qwen_tui/testing/tiny_tools.py):
a weather/calculator exchange whole and streamed, OpenAI's shapes, the calls the model writes
badly counted in the log, and every tool field checked with a 400 naming it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from serving import KEY, serving, wait_until

from qwen_tui.testing.tiny_tools import ANSWER, CALCULATOR, CALL_ARGUMENTS, WEATHER

TOOLS = [{"type": "function", "function": WEATHER}, {"type": "function", "function": CALCULATOR}]
ASK = [{"role": "user", "content": "What's the weather in Paris right now?"}]
GREEDY = {"temperature": 0, "max_tokens": 24}
# a named tool's call ends the reply once written: before </tool_call>
BAD_CALL = '<tool_call>\n{"name": "calculate", "arguments": {"city":"Paris"}}\n'


def named(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


@pytest.fixture(scope="module")
def served(tool_engine, tool_quantized):
    with serving(tool_engine, tool_quantized.folder_name, ("tools",), api_key=KEY) as s:
        yield s


def create(served, messages=ASK, **kwargs):
    return served.client().chat.completions.create(
        model=served.model, messages=messages, tools=TOOLS, **GREEDY, **kwargs
    )


def streamed(served, messages=ASK, **kwargs):
    """(the deltas' content, their tool_calls pieces as dicts, the finish reasons)."""
    chunks = [c for c in create(served, messages, stream=True, **kwargs) if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    pieces = [
        piece.model_dump(exclude_none=True)
        for c in chunks
        for piece in c.choices[0].delta.tool_calls or []
    ]
    return text, pieces, [c.choices[0].finish_reason for c in chunks]


def answered(call_message, result="18 C, sunny") -> list[dict]:
    """The conversation after the model's call and the tool's result."""
    calls = [call.model_dump() for call in call_message.tool_calls]
    return [
        *ASK,
        {"role": "assistant", "content": call_message.content, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": result},
    ]


def test_a_weather_then_calculator_exchange(served):
    first = create(served, tool_choice=named("get_weather")).choices[0]
    assert first.finish_reason == "tool_calls" and first.message.content is None
    [call] = first.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == json.loads(CALL_ARGUMENTS)

    second = create(served, answered(first.message)).choices[0]  # tool_choice auto
    assert (second.message.content, second.message.tool_calls) == (ANSWER, None)
    assert second.finish_reason == "stop"

    # made to call the calculator, the model writes the weather's arguments: text, counted
    before = len(served.log)
    third = create(served, tool_choice=named("calculate")).choices[0]
    assert (third.message.content, third.message.tool_calls) == (BAD_CALL, None)
    assert third.finish_reason == "stop"
    wait_until(lambda: len(served.log) > before)  # the line follows the reply
    assert served.log[before:][-1].endswith("stop; 1 badly written tool call kept as text")


def test_the_same_exchange_streamed_as_openai_streams_it(served):
    text, pieces, finishes = streamed(served, tool_choice=named("get_weather"))
    assert text == ""
    head, arguments = pieces
    assert head["index"] == 0 and head["type"] == "function" and head["id"].startswith("call_")
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    assert arguments["index"] == 0 and set(arguments) == {"index", "function"}
    assert json.loads(arguments["function"]["arguments"]) == json.loads(CALL_ARGUMENTS)
    assert finishes[-1] == "tool_calls" and set(finishes[:-1]) == {None}

    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": head["id"], "type": "function",
             "function": {"name": "get_weather", "arguments": CALL_ARGUMENTS}}]},
        {"role": "tool", "tool_call_id": head["id"], "content": "18 C, sunny"},
    ]  # fmt: skip
    text, pieces, finishes = streamed(served, history)
    assert (text, pieces, finishes[-1]) == (ANSWER, [], "stop")
    text, pieces, finishes = streamed(served, tool_choice=named("calculate"))
    assert (text, pieces, finishes[-1]) == (BAD_CALL, [], "stop")


def test_required_calls_the_one_tool_offered(served):
    reply = served.client().chat.completions.create(
        model=served.model, messages=ASK, tools=TOOLS[:1], tool_choice="required", **GREEDY
    )
    assert [c.function.name for c in reply.choices[0].message.tool_calls] == ["get_weather"]


class TwoCalls:
    """The engine, each reply's calls given twice (the scripted model writes one call)."""

    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def chat(self, *args, **kwargs):
        reply = self.engine.chat(*args, **kwargs)
        return replace(reply, tool_calls=reply.tool_calls * 2)


@pytest.mark.parametrize("parallel", [True, False])
def test_parallel_tool_calls_false_keeps_the_first_call(tool_engine, tool_quantized, parallel):
    with serving(TwoCalls(tool_engine), tool_quantized.folder_name) as s:
        reply = s.client().chat.completions.create(
            model=s.model,
            messages=ASK,
            tools=TOOLS,
            tool_choice=named("get_weather"),
            parallel_tool_calls=parallel,
            **GREEDY,
        )
    assert len(reply.choices[0].message.tool_calls) == (2 if parallel else 1)


def test_tools_sent_to_a_model_without_tool_calls_are_a_400(engine, tiny_quantized):
    import openai

    with serving(engine, tiny_quantized.folder_name) as s:
        with pytest.raises(openai.BadRequestError) as refused:
            s.client().chat.completions.create(model=s.model, messages=ASK, tools=TOOLS)
        assert refused.value.body["param"] == "tools"
        assert "chat template has no tool calls" in refused.value.body["message"]
        reply = s.client().chat.completions.create(  # "none": the tools are not rendered
            model=s.model, messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=2
        )
        assert reply.choices[0].finish_reason == "length"


ARGUMENTS = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
CALL = {"id": "call_1", "type": "function", "function": ARGUMENTS}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}
CALLED = [*ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]}]


@pytest.mark.parametrize(
    "fields, param, words",
    [
        ({"tools": {"type": "function"}}, "tools", "must be a list"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0]", '{"type": "function"'),
        ({"tools": [{"type": "function", "function": {"name": "get weather"}}]},
         "tools[0].function.name", "letters, digits"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "tools[1].function.name", "two tools are named"),
        ({"tools": [{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "int"}}}}}]},
         "tools[0].function.parameters", "properties.n.type must be one of"),
        ({"tool_choice": named("search")}, "tool_choice", "'search', which is not in 'tools'"),
        ({"tool_choice": "always"}, "tool_choice", "must be auto, none, required"),
        ({"tools": None, "tool_choice": "required"}, "tool_choice", "needs 'tools'"),
        ({"parallel_tool_calls": "no"}, "parallel_tool_calls", "true or false"),
        ({"messages": [*CALLED, {**RESULT, "tool_call_id": "call_9"}]},
         "messages[2].tool_call_id", "'call_9' answers no tool call"),
        ({"messages": CALLED}, "messages[1]", "call_1 have no 'tool' message"),
        ({"messages": [*CALLED, {"role": "user", "content": "and?"}]}, "messages[2]",
         "have no 'tool' message answering them"),
        ({"messages": [*ASK, {"role": "assistant", "tool_calls": [
            {**CALL, "function": {"name": "get_weather", "arguments": "{city: Paris}"}}]},
            RESULT]}, "messages[1].tool_calls[0].function.arguments", "JSON object"),
        ({"messages": [*ASK, {"role": "assistant", "content": "It"}],
          "tool_choice": "required"}, "tool_choice", "continues an assistant message"),
    ],
)  # fmt: skip
def test_a_bad_tool_field_is_a_400_naming_it(served, fields, param, words):
    body = {"model": served.model, "messages": ASK, "tools": TOOLS, **fields}
    status, error = served.error(
        "POST",
        "/v1/chat/completions",
        json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
        Authorization=f"Bearer {KEY}",
        **{"Content-Type": "application/json"},
    )
    assert (status, error["param"]) == (400, param), error
    assert words in error["message"]


def test_a_result_answers_its_call_by_id_and_the_reply_reads_it(served):
    reply = create(served, [*CALLED, RESULT])
    assert reply.choices[0].message.content == ANSWER
    assert reply.usage.prompt_tokens > create(served).usage.prompt_tokens  # the call and result
