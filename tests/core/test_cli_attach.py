"""`ask -f FILE`: files go to the model fenced after the question (the very prompt a question
with the blocks typed out makes), their tokens are reported (stderr, or `--json`), and a bad
file or one too big for the window is one line and a non-zero exit, before any reply."""

from __future__ import annotations

import io
import json
import sys
import threading
from argparse import Namespace

import pytest
from mcp_server import stdio_entry
from scripted_engine import ScriptedEngine, answer

from qwen_tui import config
from qwen_tui.ask_output import AskOutput
from qwen_tui.ask_tools import ask_with_tools
from qwen_tui.cli import main
from qwen_tui.engine.attachments import model_text
from qwen_tui.engine.types import Attachment, ChatMessage, GenerationParams

FAST = ["--max-new-tokens", "6", "--temperature", "0"]


def ask(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["ask", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qwen-tui: ") and "Traceback" not in err
    return lines[0]


def test_files_reach_the_model_fenced_after_the_question(installed_model, tmp_path, capsys):
    notes, code = tmp_path / "notes.md", tmp_path / "run.sh"
    notes.write_text("# Plan\nShip it.\n")
    code.write_text("```\necho hi\n```\n")  # a fence in the file cannot close its block
    status, out, err = ask(capsys, "Summarise.", "-f", str(notes), "-f", str(code), "--json", *FAST)
    assert status == 0, err
    attached = json.loads(out)
    names = [a["name"] for a in attached["attachments"]]
    assert names == [str(notes), str(code)] and all(
        a["tokens"] > 5 for a in attached["attachments"]
    )
    files = tuple(Attachment(str(p), p.read_text()) for p in (notes, code))
    typed = model_text(ChatMessage("user", "Summarise.", attachments=files))
    status, out, err = ask(capsys, typed, "--json", *FAST)
    assert status == 0, err
    same = json.loads(out)
    assert same["stats"]["prompt_tokens"] == attached["stats"]["prompt_tokens"]
    assert same["reply"] == attached["reply"] and same["attachments"] == []


def test_token_counts_go_to_stderr_and_stdin_still_asks(
    installed_model, tmp_path, capsys, monkeypatch
):
    notes = tmp_path / "notes.md"
    notes.write_text("one two three four five\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"What is in it?\n")))
    status, out, err = ask(capsys, "-", "--file", str(notes), *FAST)
    assert status == 0, err
    [line] = [line for line in err.splitlines() if str(notes) in line]
    assert line.startswith(f"qwen-tui: {notes}: ") and line.endswith(" tokens")
    assert out.endswith("\n") and len(out) > 1
    status, out, err = ask(capsys, "", "-f", str(notes), "--json", *FAST)  # a file alone asks
    assert status == 0, err


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: None, "There is no file"),
        (lambda p: p.mkdir(), "is a folder."),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), "holds NUL bytes (a binary file)."),
        (lambda p: p.write_bytes(b"na\xefve"), "is not UTF-8 text (byte 0xef at offset 2)."),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(installed_model, tmp_path, capsys, make, said):
    path = tmp_path / "file"
    make(path)
    status, out, err = ask(capsys, "Read it.", "-f", str(path), *FAST)
    assert status == 2 and out == ""
    assert said in one_line(err)


def test_files_too_big_for_the_window_are_refused_before_a_reply(installed_model, tmp_path, capsys):
    big = tmp_path / "big.txt"
    big.write_text("word " * 60_000)  # 300 kB: past the tiny model's window
    status, out, err = ask(capsys, "Read it.", "-f", str(big), *FAST)
    assert status == 2 and out == ""
    line = [line for line in err.splitlines() if "window" in line]
    assert len(line) == 1 and line[0].startswith("qwen-tui: The message and its files take ")
    assert f"({big} " in line[0] and "Remove a file or attach part of it" in line[0]


def test_ask_with_tools_lists_the_files_in_its_json_too(capsys):
    files = (Attachment("a.txt", "alpha"),)
    listed = [{"name": "a.txt", "tokens": 7}]
    cancel = threading.Event()
    engine = ScriptedEngine(answer("Done."))
    code = ask_with_tools(
        Namespace(json=True, yes=True, hide_thinking=False),
        config.Settings(tool_steps=2),
        [stdio_entry("tests")],
        engine,
        [ChatMessage("user", "Read it.", attachments=files)],
        GenerationParams(),
        "scripted",
        cancel,
        AskOutput(sys.stdout, sys.stderr, cancel),
        listed,
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["attachments"] == listed
    assert engine.asked[0]["messages"][-1].attachments == files  # the engine writes them in
