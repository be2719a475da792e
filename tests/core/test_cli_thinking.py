"""`ask` with a model that thinks (the scripted tiny Qwen3), as scripts use it: the answer on
stdout, the thinking on stderr, both apart in --json; --hide-thinking, --think/--no-think."""

from __future__ import annotations

import json

import pytest
from test_cli import run
from thinking_model import ANSWER, THINKING, install, quantized

ASK = ["ask", "What is 2+2?", "--temperature", "0", "--max-new-tokens", "24"]


@pytest.fixture
def thinker(tmp_path_factory, isolated_dirs):
    return install(quantized(tmp_path_factory))


def test_the_answer_goes_to_stdout_and_the_thinking_to_stderr(thinker):
    result = run(*ASK)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (ANSWER + "\n", THINKING + "\n")
    hidden = run(*ASK, "--hide-thinking")
    assert (hidden.stdout, hidden.stderr) == (ANSWER + "\n", "")


def test_json_has_reasoning_and_reply_apart(thinker):
    data = json.loads(run(*ASK, "--json").stdout)
    assert (data["reasoning"], data["reply"]) == (THINKING, ANSWER)
    assert data["stats"]["finish_reason"] == "stop" and data["model"] == "thinker-folder-sym_int4"
    off = json.loads(run(*ASK, "--json", "--no-think").stdout)
    assert (off["reasoning"], off["reply"]) == ("", ANSWER)
    assert off["stats"]["generated_tokens"] < data["stats"]["generated_tokens"]
    hidden = json.loads(run(*ASK, "--json", "--hide-thinking").stdout)
    assert hidden["reply"] == ANSWER and "reasoning" not in hidden


def test_think_flags_on_a_model_without_the_switch_say_so(installed_model):
    result = run("ask", "hi", "--max-new-tokens", "2", "--think")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "qwen-tui: tiny-sym_int4 does not think; --think changes nothing."
    ]
    both = run("ask", "hi", "--think", "--no-think")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
