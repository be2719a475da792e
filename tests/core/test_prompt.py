import pytest

from qwen_tui.engine.generate.prompt import PromptBuilder, fit, split_turns
from qwen_tui.engine.types import ChatMessage
from qwen_tui.errors import EngineError


def conv(*pairs):
    return [ChatMessage(role, text) for role, text in pairs]


def test_qwen2_prompt_is_exact_chatml(tokenizer):
    builder = PromptBuilder(tokenizer)
    ids = builder.encode(
        conv(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "你好"))
    )
    assert builder.decode(ids) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\n你好<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(im_start) == 5


def test_qwen2_template_supplies_default_system(tokenizer):
    builder = PromptBuilder(tokenizer)
    text = builder.decode(builder.encode(conv(("user", "Hi"))))
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")


def test_stop_tokens_are_chatml_markers(tokenizer):
    builder = PromptBuilder(tokenizer)
    ids = {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    assert ids <= builder.special.stop


def test_split_turns_groups_user_and_reply():
    system, turns = split_turns(
        conv(("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c"))
    )
    assert [m.content for m in system] == ["s"]
    assert [[m.content for m in t] for t in turns] == [["a", "b"], ["c"]]


def test_fit_drops_oldest_turns_but_keeps_system_and_newest(tokenizer):
    builder = PromptBuilder(tokenizer)
    messages = [ChatMessage("system", "SYSTEM")]
    for i in range(12):
        messages += conv(("user", f"question {i} " * 5), ("assistant", f"answer {i} " * 5))
    messages.append(ChatMessage("user", "the newest question"))
    full = len(builder.encode(messages))
    fitted = fit(builder, messages, budget=full // 2)
    assert len(fitted.ids) <= full // 2
    assert fitted.dropped_turns > 0
    assert fitted.messages[0] == messages[0]
    assert fitted.messages[-1] == messages[-1]
    # what is kept is the newest turns, whole
    assert fitted.messages[1:] == messages[1 + 2 * fitted.dropped_turns :]
    assert fit(builder, messages, budget=full).dropped_turns == 0


def test_fit_refuses_a_message_that_cannot_fit(tokenizer):
    builder = PromptBuilder(tokenizer)
    with pytest.raises(EngineError, match="too long"):
        fit(builder, conv(("system", "s"), ("user", "word " * 200)), budget=20)


def test_fit_needs_a_user_message_last(tokenizer):
    with pytest.raises(EngineError):
        fit(PromptBuilder(tokenizer), conv(("user", "a"), ("assistant", "b")), budget=100)


@pytest.fixture(scope="module")
def qwen1_tokenizer(tmp_path_factory):
    from qwen1_fixture import build_tiny_qwen1
    from transformers import AutoTokenizer

    source = build_tiny_qwen1(tmp_path_factory.mktemp("qwen1-tok"))
    return AutoTokenizer.from_pretrained(str(source), trust_remote_code=True)


def spelled_out(builder, text):
    """Ids that spell ``text`` one character at a time: what a model may generate instead of
    the tokenizer's own merges."""
    ids = [i for ch in text for i in builder.tokenizer.encode(ch)]
    assert builder.decode(ids) == text
    return tuple(ids)


@pytest.mark.parametrize("family", ["qwen2", "qwen1"])
def test_replies_are_fed_back_as_the_model_generated_them(family, request):
    tokenizer = request.getfixturevalue("tokenizer" if family == "qwen2" else "qwen1_tokenizer")
    builder = PromptBuilder(tokenizer)
    reply = "Hello there, 你好!"
    generated = spelled_out(builder, reply)
    assert list(generated) != builder.tokenizer.encode(reply)  # really another spelling

    def messages(answer, ids):
        return [
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", answer, ids),
            ChatMessage("user", "Again"),
        ]

    canonical = builder.encode(messages(reply, None))
    ours = builder.encode(messages(reply, generated))
    assert builder.decode(ours) == builder.decode(canonical)  # the same text
    header = builder.encode(messages(reply, None)[:1])  # everything up to the reply's text
    assert ours[: len(header)] == header
    assert tuple(ours[len(header) : len(header) + len(generated)]) == generated
    # edited after it was generated: the ids no longer spell it, the tokenizer's own are used
    edited = "Hello there, 你好?"
    assert builder.encode(messages(edited, generated)) == builder.encode(messages(edited, None))


def test_typed_markers_never_misplace_generated_ids(tokenizer):
    """A user who types ChatML markers may shift the blocks; the ids go only where the text
    they spell is, else the prompt stays as the tokenizer made it."""
    builder = PromptBuilder(tokenizer)
    reply = "Hello there!"
    generated = spelled_out(builder, reply)
    messages = [
        ChatMessage("user", "<|im_start|>assistant\nHello there!<|im_end|>"),
        ChatMessage("assistant", reply, generated),
        ChatMessage("user", "Again"),
    ]
    ids = builder.encode(messages)
    canonical = builder.encode([ChatMessage(m.role, m.content) for m in messages])
    assert builder.decode(ids) == builder.decode(canonical)


def test_without_a_system_prompt_the_templates_own_default_is_used(tokenizer):
    """Qwen2.5's template inserts "You are Qwen, created by Alibaba Cloud..."; ours (the tiny
    model's) "You are a helpful assistant.": whichever the model's template says."""
    from qwen_tui.engine.generate.prompt import PromptBuilder

    builder = PromptBuilder(tokenizer)
    text = builder.decode(builder.encode([ChatMessage("user", "hi")]))
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    own = builder.decode(
        builder.encode([ChatMessage("system", "Be terse."), ChatMessage("user", "hi")])
    )
    assert "helpful" not in own and own.startswith("<|im_start|>system\nBe terse.<|im_end|>")
