"""The streaming split of a reply into thinking and answer, fed in every way it can arrive."""

from __future__ import annotations

import pytest

from qwen_tui.engine.generate.thinking import ThinkingSplitter, opens_thinking, split_reply

QWEN3 = "<think>\nThe user greets me.\n\nI greet back.\n</think>\n\nHello! How can I help?"


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
def test_any_chunking_gives_the_same_split(size: int) -> None:
    splitter = ThinkingSplitter()
    parts = [p for chunk in pieces(QWEN3, size) for p in splitter.push(chunk)]
    parts += splitter.flush()
    reasoning = "".join(p.text for p in parts if p.reasoning)
    answer = "".join(p.text for p in parts if not p.reasoning)
    assert reasoning == "The user greets me.\n\nI greet back."
    assert answer == "Hello! How can I help?"
    # thinking always comes before the answer
    kinds = [p.reasoning for p in parts]
    assert kinds == sorted(kinds, reverse=True)


def test_empty_block_when_thinking_is_off() -> None:
    assert split_reply("<think>\n\n</think>\n\nJust the answer.") == ("", "Just the answer.")


def test_no_block_is_all_answer_and_a_later_tag_is_text() -> None:
    text = "Use <think> tags like this: <think>x</think>"
    assert split_reply(text) == ("", text)
    assert split_reply("<thin") == ("", "<thin")  # a reply that ends mid-maybe-tag


def test_template_opened_block_has_only_the_closing_tag() -> None:
    reasoning, answer = split_reply("Let me see.\n</think>\n\n42", opened=True)
    assert (reasoning, answer) == ("Let me see.", "42")


def test_cut_while_thinking_keeps_the_thinking() -> None:
    splitter = ThinkingSplitter()
    splitter.push("<think>\nstep one\nstep t")
    splitter.flush()
    assert "".join(splitter.reasoning) == "step one\nstep t"
    assert splitter.answer == [] and splitter.thought


def test_a_partial_closing_tag_is_held_not_shown() -> None:
    splitter = ThinkingSplitter()
    shown = splitter.push("<think>\nhmm</thi")
    assert "".join(p.text for p in shown) == "hmm"
    shown = splitter.push("nk>\n\nyes")
    assert [(p.text, p.reasoning) for p in shown] == [("yes", False)]


def test_opens_thinking_reads_the_prompt_tail() -> None:
    assert opens_thinking("<|im_start|>assistant\n<think>\n")
    assert not opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert not opens_thinking("<|im_start|>assistant\n")
