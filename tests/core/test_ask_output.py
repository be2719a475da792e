"""What `ask` writes where: the answer on stdout, the thinking on stderr (dim on a terminal)."""

from __future__ import annotations

import io
import threading

import pytest

from qwen_tui.ask_output import DIM, RESET, AskOutput


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError


def stream(output: AskOutput) -> None:
    for piece in ("I add", " them."):
        output.thought(piece)
    for piece in ("It is", " 4."):
        output.answer(piece)
    output.end_thinking()


def test_thinking_goes_to_stderr_plain_and_the_answer_to_stdout() -> None:
    out, err = io.StringIO(), io.StringIO()
    stream(AskOutput(out, err, threading.Event()))
    assert out.getvalue() == "It is 4."
    assert err.getvalue() == "I add them.\n"


def test_on_a_terminal_the_thinking_is_dim_and_a_blank_line_ends_it(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = io.StringIO(), Terminal()
    stream(AskOutput(out, err, threading.Event()))
    assert err.getvalue() == f"{DIM}I add them.{RESET}\n\n" and out.getvalue() == "It is 4."
    monkeypatch.setenv("NO_COLOR", "1")
    err = Terminal()
    stream(AskOutput(io.StringIO(), err, threading.Event()))
    assert err.getvalue() == "I add them.\n\n"


def test_hidden_thinking_writes_nothing_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    stream(AskOutput(out, err, threading.Event(), show_thinking=False))
    assert (out.getvalue(), err.getvalue()) == ("It is 4.", "")


def test_a_closed_stdout_stops_the_reply_a_closed_stderr_only_the_thinking() -> None:
    cancel = threading.Event()
    output = AskOutput(Closed(), io.StringIO(), cancel)
    with pytest.raises(BrokenPipeError):
        output.answer("It is")
    assert cancel.is_set()
    cancel = threading.Event()
    out = io.StringIO()
    stream(AskOutput(out, Closed(), cancel))
    assert out.getvalue() == "It is 4." and not cancel.is_set()
