"""Thinking through `qwen-tui serve`: ``reasoning_content`` apart from ``content``, vLLM's
``chat_template_kwargs.enable_thinking``, and thinking sent back by clients.

The model is the tiny one with a chat template in Qwen3's manner: the reply opens with a
<think> block unless ``enable_thinking`` is false, and past replies carry their thinking. Its
random text never closes the block, so with thinking on the whole reply is thinking.
"""

from __future__ import annotations

import json
import shutil

import pytest
from serving import serving

THINKING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' and message['reasoning_content'] %}"
    "{{ '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' }}"
    "{% endif %}"
    "{{ message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{% else %}{{ '<think>\\n' }}{% endif %}"
    "{% endif %}"
)


@pytest.fixture(scope="module")
def thinker(tiny_source, tmp_path_factory):
    from qwen_tui.engine.bigdl.engine import BigdlEngine
    from qwen_tui.store.quantize import quantize_folder

    source = tmp_path_factory.mktemp("thinker") / "src"
    shutil.copytree(tiny_source, source)
    config = source / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data["chat_template"] = THINKING_TEMPLATE
    config.write_text(json.dumps(data))
    model = quantize_folder(
        source, "thinker", "sym_int4", root=tmp_path_factory.mktemp("store"), measure=False
    )
    engine = BigdlEngine(model.path, threads=1)
    assert engine.load().thinking == "switch"
    with serving(engine, model.folder_name) as served:
        yield served
    engine.unload()


def chat(served, messages, **kwargs):
    return served.client().chat.completions.create(
        model=served.model, messages=messages, temperature=0, **kwargs
    )


HI = [{"role": "user", "content": "think about it"}]


def test_thinking_streams_as_reasoning_content(thinker):
    chunks = list(chat(thinker, HI, max_tokens=12, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert reasoning and not "".join(d.content or "" for d in deltas)
    whole = chat(thinker, HI, max_tokens=12).choices[0].message
    assert whole.model_extra["reasoning_content"] == reasoning and whole.content == ""


def test_enable_thinking_false_in_chat_template_kwargs_turns_it_off(thinker):
    off = {"chat_template_kwargs": {"enable_thinking": False}}
    message = chat(thinker, HI, max_tokens=12, extra_body=off).choices[0].message
    assert message.content and not (message.model_extra or {}).get("reasoning_content")


def test_thinking_sent_back_reaches_the_template(thinker):
    def prompt_tokens(reply):
        history = [*HI, reply, {"role": "user", "content": "and then?"}]
        return chat(thinker, history, max_tokens=1).usage.prompt_tokens

    plain = prompt_tokens({"role": "assistant", "content": "yes"})
    field = prompt_tokens({"role": "assistant", "content": "yes", "reasoning_content": "I see"})
    inline = prompt_tokens({"role": "assistant", "content": "<think>\nI see\n</think>\n\nyes"})
    assert field == inline > plain
