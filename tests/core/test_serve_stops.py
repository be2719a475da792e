"""Stop strings cut the answer where the first one begins, however the text is split."""

from __future__ import annotations

import pytest

from qwen_tui.serve.stops import StopMatcher


def feed(stops, pieces):
    matcher = StopMatcher(stops)
    shown = [matcher.push(p) for p in pieces]
    return shown, matcher.flush(), matcher.hit


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_the_answer_is_cut_before_the_first_stop_string(size):
    text = "alpha END beta STOP gamma"
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    shown, tail, hit = feed(("STOP", "END"), pieces)
    assert "".join(shown) + tail == "alpha " and hit


def test_a_partial_match_is_held_back_and_let_go_when_it_fails():
    shown, tail, hit = feed(("</end>",), ["one </e", "nd", "x> two"])
    assert shown == ["one ", "", "</endx> two"] and tail == "" and not hit
    shown, tail, hit = feed(("</end>",), ["one </en"])
    assert shown == ["one "] and tail == "</en" and not hit  # the reply ended: it is text


def test_nothing_after_a_match_is_shown():
    shown, tail, hit = feed(("\n\n",), ["a\n", "\nb", "c"])
    assert shown == ["a", "", ""] and tail == "" and hit


def test_no_stop_strings_pass_everything_through():
    assert feed((), ["a", "b"]) == (["a", "b"], "", False)
    assert feed(("",), ["a"]) == (["a"], "", False)
