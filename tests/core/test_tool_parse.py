"""Reading the calls a model writes (``engine/tools``): both Qwen forms, wherever they appear,
XML values typed by the schema, badly written calls kept as text and counted, and the stream
that never shows a call's markup."""

from __future__ import annotations

import json

import pytest

from qwen_tui.engine.tools import ToolCallFilter, split_calls
from qwen_tui.engine.tools.schema import coerce, mismatch, schema_problem
from qwen_tui.engine.types import ToolSpec

WEATHER = ToolSpec(
    "get_weather",
    "Get the weather.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)
TYPED = ToolSpec(
    "book",
    "",
    {
        "type": "object",
        "properties": {
            "guests": {"type": "integer"},
            "budget": {"type": "number"},
            "vegan": {"type": "boolean"},
            "where": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "dates": {"type": "array", "items": {"type": "string"}},
            "note": {},
        },
        "required": ["guests"],
        "additionalProperties": False,
    },
)
TOOLS = [WEATHER, TYPED]
JSON_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
XML_CALL = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
    "</function>\n</tool_call>"
)


def args(call) -> dict:
    return json.loads(call.arguments)


@pytest.mark.parametrize("call", [JSON_CALL, XML_CALL], ids=["json", "xml"])
def test_either_form_is_a_call_with_an_openai_id(call):
    text, calls, bad = split_calls(call, TOOLS)
    assert (text, bad) == ("", 0)
    assert [(c.name, args(c)) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert calls[0].id.startswith("call_") and len(calls[0].id) == 29


def test_both_forms_anywhere_in_a_reply_with_the_text_around_them_kept():
    reply = f"Let me look that up.\n\n{JSON_CALL}\n{XML_CALL.replace('Paris', 'Rome')}\n"
    text, calls, bad = split_calls(reply, TOOLS)
    assert text == "Let me look that up." and bad == 0
    assert [args(c)["city"] for c in calls] == ["Paris", "Rome"]
    assert calls[0].id != calls[1].id


def test_the_xml_form_without_its_tool_call_wrapper():
    bare = "<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n</function>"
    text, calls, _ = split_calls("Sure. " + bare, TOOLS)
    assert text == "Sure." and args(calls[0]) == {"city": "New York"}


def test_xml_values_take_the_type_their_schema_names():
    xml = (
        "<tool_call>\n<function=book>\n"
        "<parameter=guests>\n4\n</parameter>\n<parameter=budget>\n120.5\n</parameter>\n"
        '<parameter=vegan>\nTrue\n</parameter>\n<parameter=where>\n{"x": 3}\n</parameter>\n'
        '<parameter=dates>\n["mon", "tue"]\n</parameter>\n'
        "<parameter=note>\n  two\nlines \n</parameter>\n</function>\n</tool_call>"
    )
    _, calls, bad = split_calls(xml, TOOLS)
    assert bad == 0
    assert args(calls[0]) == {
        "guests": 4,
        "budget": 120.5,
        "vegan": True,
        "where": {"x": 3},
        "dates": ["mon", "tue"],
        "note": "  two\nlines ",  # no type: a string, only its framing newlines dropped
    }


@pytest.mark.parametrize(
    "written, why",
    [
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>',
         "not valid JSON"),
        ('<tool_call>\n{"name": "get_wether", "arguments": {"city": "Paris"}}\n</tool_call>',
         "no tool 'get_wether'"),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"town": "Paris"}}\n</tool_call>',
         "lacks the required 'city'"),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": 75}}\n</tool_call>',
         "arguments.city is an integer, not string"),
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "P", "unit": "kelvin"}}'
         "</tool_call>", "not one of"),
        ('<tool_call>{"name": "book", "arguments": {"guests": 2, "pets": 1}}</tool_call>',
         "does not allow"),
        ("<tool_call>\n<function=book>\n<parameter=guests>\nfour\n</parameter>\n</function>\n"
         "</tool_call>", "guests is not of its schema's type"),
        ('<tool_call>{"arguments": {}}</tool_call>', 'no "name"'),
    ],
)  # fmt: skip
def test_a_badly_written_call_stays_text_and_is_counted(written, why):
    calls = ToolCallFilter(TOOLS)
    shown = calls.push("Here: " + written) + calls.flush()
    assert shown == "Here: " + written
    assert (calls.calls, calls.bad) == ([], 1)
    assert why in calls.why[0]


def test_a_call_the_end_of_the_reply_closes_is_read_and_one_cut_short_is_text():
    text, calls, bad = split_calls(JSON_CALL.removesuffix("\n</tool_call>"), TOOLS)
    assert (text, len(calls), bad) == ("", 1, 0)  # the model stopped without </tool_call>
    cut = '<tool_call>\n{"name": "get_weather", "arguments": {"ci'
    assert split_calls(cut, TOOLS) == (cut, [], 1)  # max_tokens cut it: text


def test_a_second_opening_before_a_close_ends_the_first_block():
    reply = '<tool_call>{"name": "get_weather", "arg\n' + JSON_CALL
    text, calls, bad = split_calls(reply, TOOLS)
    assert text == '<tool_call>{"name": "get_weather", "arg' and bad == 1 and len(calls) == 1


def test_a_reply_without_calls_is_unchanged_to_the_last_space():
    for reply in ["Plain text.\n\n", "a < b and <tool> and <function", "x <tool_call", "  \n"]:
        assert split_calls(reply, TOOLS)[0] == reply


@pytest.mark.parametrize("reply", [f"Checking.\n{JSON_CALL}", f"One moment\n\n{XML_CALL}\n"])
def test_streamed_a_character_at_a_time_no_markup_of_a_call_is_shown(reply):
    calls = ToolCallFilter(TOOLS)
    shown = [calls.push(c) for c in reply] + [calls.flush()]
    assert "".join(shown) == split_calls(reply, TOOLS)[0]
    assert not any("<" in piece for piece in shown) and len(calls.calls) == 1


def test_text_before_a_call_is_shown_before_the_call_is_complete():
    calls = ToolCallFilter(TOOLS)
    assert calls.push("Let me check the weather. <tool") == "Let me check the weather."
    assert calls.push("_call>\n{") == ""  # held: it may be a call
    assert calls.push('"name": "get_weather", "arguments": {"city": "Oslo"}}') == ""
    assert calls.push("</tool_call>") + calls.flush() == ""
    assert args(calls.calls[0]) == {"city": "Oslo"}


def test_a_tag_that_cannot_open_a_call_is_shown_at_once():
    calls = ToolCallFilter(TOOLS)
    assert calls.push("Write <tool_call> tags like this") == "Write <tool_call> tags like this"
    assert calls.push(" <function=f\nx") == " <function=f\nx"
    assert calls.bad == 0


def test_the_schema_checks_and_what_a_client_schema_may_be():
    assert mismatch({"city": "x"}, WEATHER.parameters) is None
    assert mismatch(3.0, {"type": "integer"}) is None and mismatch(True, {"type": "integer"})
    assert mismatch([1, "a"], {"type": "array", "items": {"type": "integer"}}) == (
        "arguments[1] is a string, not integer"
    )
    assert mismatch("a", {"anyOf": [{"type": "integer"}, {"type": "string"}]}) is None
    assert coerce("null", {"type": ["integer", "null"]}) == (None, True)
    assert coerce("7", {"type": ["integer", "null"]}) == (7, True)
    assert coerce("7", {"type": "boolean"}) == (None, False)
    assert schema_problem(TYPED.parameters, "parameters") is None
    assert schema_problem({"type": "dict"}, "p") == (
        'p.type must be one of object, array, string, integer, number, boolean, null, not "dict"'
    )
    assert schema_problem({"properties": {"a": {"type": "str"}}}, "p").startswith(
        "p.properties.a.type must be"
    )
    assert schema_problem({"required": "a"}, "p") == "p.required must be a list of property names"
    assert schema_problem([], "p") == "p must be a JSON Schema object"


BARE = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}'
FENCED = '```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris"\n  }\n}\n```'


@pytest.mark.parametrize("reply", [BARE, FENCED, f"\n{BARE}\n", FENCED.replace("json", "")])
def test_a_whole_answer_that_is_a_call_without_tags_is_a_call(reply):
    # as Qwen2.5-Coder writes its calls (scripts/tool_call_rate.py)
    calls = ToolCallFilter(TOOLS)
    shown = [calls.push(c) for c in reply] + [calls.flush()]
    assert "".join(shown) == "" and calls.bad == 0
    assert [c.name for c in calls.calls] == ["get_weather"]


@pytest.mark.parametrize(
    "reply, bad",
    [
        ('{"name": "Ada", "born": 1815}', 0),  # JSON about something else
        (BARE + "\nThat is the call.", 0),  # a call shown, not made: only whole answers
        ("Call it so:\n" + FENCED, 0),
        ('{"name": "get_weather", "arguments": {"town": "Paris"}}', 1),  # a tool's, badly
    ],
)
def test_json_that_is_not_the_whole_answer_or_not_a_call_stays_text(reply, bad):
    text, calls, counted = split_calls(reply, TOOLS)
    assert (text, calls, counted) == (reply, [], bad)


def test_an_answer_that_cannot_be_a_call_without_tags_shows_at_once():
    for start, shown in [("```python\n", "```python"), ("```json\n[1", "```json\n[1"),
                         ("{\"id\": 3", '{"id": 3'), ("Sure", "Sure")]:  # fmt: skip
        assert ToolCallFilter(TOOLS).push(start) == shown
    held = ToolCallFilter(TOOLS)
    assert held.push('```json\n{\n  "na') == ""  # may still be a call
