"""Tools reach the model through its own chat template: Qwen2.5's, Qwen3's and Qwen3.5's real
templates (verbatim in qwen_tui/testing/*.jinja) render the tools, a call and its result as
Qwen documents them, on our tokenizer and on transformers'; a forced call's opening ends the
prompt; models without tool calls are refused in one sentence."""

from __future__ import annotations

import pytest

from qwen_tui.engine.generate.prompt import PromptBuilder, fit
from qwen_tui.engine.tokenizer import ChatTokenizer
from qwen_tui.engine.tools import (
    ToolsNotSupported,
    call_opening,
    message_dict,
    tool_dicts,
    tool_format,
)
from qwen_tui.engine.types import ChatMessage, ToolCall, ToolSpec
from qwen_tui.testing.tiny import QWEN2_CHAT_TEMPLATE, build_tokenizer
from qwen_tui.testing.tiny_qwen3 import QWEN3_CHAT_TEMPLATE
from qwen_tui.testing.tiny_qwen35 import QWEN35_CHAT_TEMPLATE
from qwen_tui.testing.tiny_tools import QWEN25_CHAT_TEMPLATE

# a description with what Jinja's own tojson would escape, and keys out of sorted order
WEATHER = ToolSpec(
    "get_weather",
    "Weather <now> & Joe's",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
TOOL_LINE = (
    '{"type": "function", "function": {"name": "get_weather", "description": "Weather <now> & '
    'Joe\'s", "parameters": {"type": "object", "properties": {"city": {"type": '
    '"string"}, "days": {"type": "integer"}}, "required": ["city"]}}}'
)
CALL = ToolCall("call_1", "get_weather", '{"city": "Paris", "days": 2}')
EXCHANGE = [
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", "", tool_calls=(CALL,)),
    ChatMessage("tool", "18 C", tool_call_id="call_1", name="get_weather"),
]
QWEN25_EXPECTED = f"""<|im_start|>system
You are Qwen, created by Alibaba Cloud. You are a helpful assistant.

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{TOOL_LINE}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call><|im_end|>
<|im_start|>user
Weather in Paris?<|im_end|>
<|im_start|>assistant
<tool_call>
{{"name": "get_weather", "arguments": {{"city": "Paris", "days": 2}}}}
</tool_call><|im_end|>
<|im_start|>user
<tool_response>
18 C
</tool_response><|im_end|>
<|im_start|>assistant
"""
QWEN35_CALL = (
    "<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>\n<function=get_weather>\n"
    "<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n"
    "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n18 C\n</tool_response><|im_end|>"
)


def with_template(tokenizer: ChatTokenizer, template: str) -> ChatTokenizer:
    return ChatTokenizer(tokenizer.backend, tokenizer.special, template, False)


def rendered(tokenizer, template, messages, tools=(WEATHER,), **kwargs) -> str:
    builder = PromptBuilder(with_template(tokenizer, template))
    return builder.decode(builder.encode(messages, tools=tools, **kwargs))


def test_qwen25_renders_tools_a_call_and_its_result_as_qwen_documents_them(tokenizer):
    assert rendered(tokenizer, QWEN25_CHAT_TEMPLATE, EXCHANGE) == QWEN25_EXPECTED


def test_qwen3_writes_the_same_json_form(tokenizer):
    text = rendered(tokenizer, QWEN3_CHAT_TEMPLATE, EXCHANGE)
    assert f"<tools>\n{TOOL_LINE}\n</tools>" in text
    assert QWEN25_EXPECTED.split("Weather in Paris?<|im_end|>\n")[1] in text


def test_qwen35_writes_the_xml_form_each_value_in_its_parameter(tokenizer):
    text = rendered(tokenizer, QWEN35_CHAT_TEMPLATE, EXCHANGE)
    assert f"<tools>\n{TOOL_LINE}\n</tools>" in text and QWEN35_CALL in text


def test_each_template_is_read_for_its_form():
    forms = [tool_format(t) for t in (QWEN25_CHAT_TEMPLATE, QWEN3_CHAT_TEMPLATE)]
    assert forms == ["json", "json"] and tool_format(QWEN35_CHAT_TEMPLATE) == "xml"
    assert tool_format(QWEN2_CHAT_TEMPLATE) == "" and tool_format(None) == ""


@pytest.mark.parametrize(
    "template, name, opening",
    [
        (QWEN25_CHAT_TEMPLATE, "get_weather",
         '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments":'),
        (QWEN3_CHAT_TEMPLATE, "",
         '<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>\n{"name": "'),
        (QWEN35_CHAT_TEMPLATE, "get_weather",  # its template trims a message's content
         "<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>\n<function=get_weather>"),
    ],
)  # fmt: skip
def test_a_forced_calls_opening_ends_the_prompt(tokenizer, template, name, opening):
    messages = [EXCHANGE[0], ChatMessage("assistant", call_opening(tool_format(template), name))]
    text = rendered(tokenizer, template, messages, continue_last=True)
    assert text.endswith(opening)


def test_transformers_tokenizers_render_tools_as_ours_do(tmp_path):
    fast = build_tokenizer()  # transformers 4.37's PreTrainedTokenizerFast: no tools variable
    fast.chat_template = QWEN25_CHAT_TEMPLATE
    fast.save_pretrained(tmp_path)
    ours = PromptBuilder(ChatTokenizer.from_folder(tmp_path))
    theirs = PromptBuilder(fast)
    for messages, tools in [(EXCHANGE, (WEATHER,)), (EXCHANGE, ()), (EXCHANGE[:1], (WEATHER,))]:
        ids = theirs.encode(messages, tools=tools)
        assert ids == ours.encode(messages, tools=tools)
        assert TOOL_LINE in theirs.decode(ids) or not tools


def test_models_without_tool_calls_are_refused_in_one_sentence(tokenizer):
    plain = PromptBuilder(with_template(tokenizer, QWEN2_CHAT_TEMPLATE))
    with pytest.raises(ToolsNotSupported, match="^This model's chat template has no tool calls"):
        plain.encode(EXCHANGE[:1], tools=(WEATHER,))
    with pytest.raises(ToolsNotSupported):  # a call in the history cannot be rendered either
        plain.encode(EXCHANGE)
    assert plain.encode(EXCHANGE[:1])  # no tools: as before


def test_qwen1_is_refused(tmp_path):
    from qwen1_fixture import build_tiny_qwen1

    from qwen_tui.engine.models.qwen1_tokenizer import Qwen1Tokenizer

    builder = PromptBuilder(Qwen1Tokenizer.from_folder(build_tiny_qwen1(tmp_path / "q1")))
    with pytest.raises(ToolsNotSupported) as refused:
        builder.encode(EXCHANGE[:1], tools=(WEATHER,))
    assert refused.value.message == "Qwen-1 has no chat template for tool calls."


def test_tool_tokens_is_what_offering_the_tools_adds(tokenizer):
    builder = PromptBuilder(with_template(tokenizer, QWEN25_CHAT_TEMPLATE))
    probe = [ChatMessage("user", "hi")]
    one = builder.tool_tokens([WEATHER])
    assert one == len(builder.encode(probe, tools=[WEATHER])) - len(builder.encode(probe))
    other = ToolSpec("calculate", "Arithmetic.", {"type": "object", "properties": {}})
    assert builder.tool_tokens([WEATHER, other]) > one > 50 and builder.tool_tokens([]) == 0


def test_a_conversation_ends_on_a_result_and_drops_whole_exchanges(tokenizer):
    builder = PromptBuilder(with_template(tokenizer, QWEN25_CHAT_TEMPLATE))
    older = [ChatMessage("user", "Old question " * 20), ChatMessage("assistant", "Old answer.")]
    messages = [*older, *EXCHANGE]
    full = len(builder.encode(messages, tools=[WEATHER]))
    fitted = fit(builder, messages, full - 1, tools=[WEATHER])
    assert fitted.dropped_turns == 1 and fitted.messages == EXCHANGE  # call and result kept
    assert message_dict(EXCHANGE[2]) == {
        "role": "tool",
        "content": "18 C",
        "tool_call_id": "call_1",
        "name": "get_weather",
    }
    assert tool_dicts([ToolSpec("f")]) == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object",
                                                                       "properties": {}}}}
    ]  # fmt: skip
