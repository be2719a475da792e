"""The CLI as scripts use it: real subprocesses and in-process main()."""

import json
import os
import signal
import subprocess
import sys
import time

from qwen_tui.catalog import DEFAULT_LOW_BIT
from qwen_tui.cli import main


def run(*args, input=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "qwen_tui", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        env=os.environ.copy(),
    )


def one_line_error(result, code):
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qwen-tui: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_ask_without_any_model_says_what_to_do():
    line = one_line_error(run("ask", "hi"), 1)
    assert "no local model" in line and "qwen-tui pull" in line and "quantize PATH" in line


def test_unknown_model_and_bad_arguments(installed_model):
    assert "No local model named 'zzz'" in one_line_error(run("ask", "hi", "--model", "zzz"), 1)
    assert "temperature must be" in one_line_error(run("ask", "hi", "--temperature", "9"), 2)
    assert "invalid choice" in one_line_error(run("frobnicate"), 2)
    assert "--name" in one_line_error(run("quantize", "/nowhere"), 2)
    assert "does not exist" in one_line_error(run("quantize", "/nowhere", "--name", "x"), 2)
    assert "empty" in one_line_error(run("ask", "-", input="  \n"), 2)


def test_incomplete_model_path_is_refused(installed_model, tmp_path):
    line = one_line_error(run("ask", "hi", "--model-path", str(tmp_path)), 1)
    assert "not a complete qwen-tui model" in line


def test_quantize_then_ask_json(tiny_source, capsys):
    assert main(["quantize", str(tiny_source), "--name", "t"]) == 0
    assert f"Ready: t-{DEFAULT_LOW_BIT}" in capsys.readouterr().out
    assert main(["models"]) == 0
    assert f"t-{DEFAULT_LOW_BIT}" in capsys.readouterr().out
    result = run(
        "ask", "hello", "--model", "t", "--json", "--max-new-tokens", "8", "--temperature", "0"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == f"t-{DEFAULT_LOW_BIT}" and isinstance(data["reply"], str)
    assert data["stats"]["generated_tokens"] == 8 and data["stats"]["prompt_tokens"] > 0
    assert data["stats"]["finish_reason"] == "length"


def test_ask_reads_stdin_and_streams(installed_model):
    """`ask -` answers what stdin holds: the same prompt and reply as the text given as an
    argument, and a longer stdin makes a longer prompt."""

    def ask(prompt, stdin=None):
        args = ("ask", prompt, "--max-new-tokens", "5", "--temperature", "0", "--json")
        result = run(*args, input=stdin)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    piped, given = ask("-", "你好，请写一首诗"), ask("你好，请写一首诗")
    assert piped["stats"]["prompt_tokens"] == given["stats"]["prompt_tokens"]
    assert piped["reply"] == given["reply"] and piped["reply"]
    longer = ask("-", "你好，请写一首诗\n" * 20)
    assert longer["stats"]["prompt_tokens"] > piped["stats"]["prompt_tokens"] + 40
    plain = run("ask", "-", "--max-new-tokens", "5", "--temperature", "0", input="你好\n")
    assert plain.returncode == 0 and plain.stdout.endswith("\n") and len(plain.stdout) > 1


def long_ask() -> subprocess.Popen:
    """`ask` with a reply long enough to be interrupted, its output in pipes."""
    command = ["ask", "hello", "--max-new-tokens", "4000", "--temperature", "0"]
    return subprocess.Popen(
        [sys.executable, "-m", "qwen_tui", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


# `python -m qwen_tui` once the interpreter has started: it says so on stderr first (Ctrl+C
# while Python itself starts, in its `site` imports, is Python's to report, not ours); with
# SLOW_MODULE, importing that module of ours says so and waits, for the signal to land there
STARTED = b"interpreter started\n"
AFTER_START = """
import os, runpy, sys, time
class Slow:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("SLOW_MODULE"):
            sys.stderr.write("importing " + name + "\\n"); sys.stderr.flush(); time.sleep(30)
sys.meta_path.insert(0, Slow())
sys.stderr.write("interpreter started\\n"); sys.stderr.flush()
sys.argv[0] = "qwen-tui"
runpy.run_module("qwen_tui", run_name="__main__")
"""


def long_ask_after_start(slow_module: str = "") -> subprocess.Popen:
    """`long_ask` whose interpreter has started (its first line of stderr read)."""
    command = ["ask", "hello", "--max-new-tokens", "4000", "--temperature", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", AFTER_START, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SLOW_MODULE": slow_module},
    )
    assert proc.stderr is not None and proc.stderr.readline() == STARTED
    return proc


def test_ctrl_c_stops_cleanly_with_130(installed_model):
    proc = long_ask()
    proc.stdout.read(1)  # the reply has started
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.decode().splitlines() == ["qwen-tui: stopped; the partial reply is above."]


def test_rm_and_verify(installed_model, capsys):
    assert main(["verify", "tiny"]) == 0
    assert "match their checksums" in capsys.readouterr().out
    assert main(["rm", "tiny"]) == 0
    assert not installed_model.exists()
    assert main(["rm", "tiny"]) == 1
    assert "No local model named 'tiny'" in capsys.readouterr().err


def test_bad_config_does_not_stop_the_cli(installed_model):
    from qwen_tui import paths

    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text("this is = = not toml")
    result = run("ask", "hi", "--max-new-tokens", "2")
    assert result.returncode == 0
    assert result.stderr.splitlines()[0].startswith("qwen-tui: config: ")


def test_a_reader_that_stops_early_ends_us_quietly(installed_model):
    """`qwen-tui models | head -1` and `qwen-tui ask ... | head -1`, as `ls | head` does."""
    for args in (["models"], ["ask", "hello", "--max-new-tokens", "4000", "--temperature", "0"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "qwen_tui", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )
        proc.stdout.read(1)
        proc.stdout.close()  # the reader is gone
        started = time.monotonic()
        err = proc.stderr.read().decode()
        proc.wait(timeout=120)
        assert "Traceback" not in err and "BrokenPipe" not in err, err
        assert proc.returncode == 141
        assert time.monotonic() - started < 60  # ask stops generating instead of finishing


def test_ctrl_c_at_any_moment_of_ask_stops_it(installed_model):
    """While the command's modules import (a second or more on a busy machine), while the
    model loads, and as the answer begins (a fixed 2.5 s was once "while it answers", until a
    fast machine wrote all 4,000 tokens by then and the signal came while Python was exiting;
    the native engine loads the tiny model within half a second of the start and writes the
    4,000 tokens in under one)."""
    for delay in (0.1, 0.3, None):
        proc = long_ask_after_start()
        if delay is None:
            proc.stdout.read(1)
        else:
            time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (delay, err)
        assert "Traceback" not in err.decode()
        # stopped or interrupted, not answered in full (on a fast machine the tiny model can
        # write thousands of bytes in 2.5 s, so the length of the output says nothing)
        assert b"qwen-tui: stopped" in err or b"qwen-tui: interrupted" in err, err


def test_ctrl_c_while_the_command_imports_is_one_line_and_130(installed_model):
    """`qwen_tui.catalog` is imported by the command line's own module, before any handler of
    ours is installed: the interrupt there is the same clean stop."""
    proc = long_ask_after_start(slow_module="qwen_tui.catalog")
    assert proc.stderr is not None and proc.stderr.readline() == b"importing qwen_tui.catalog\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == b"qwen-tui: interrupted.\n", err
    assert out == b""


def test_models_names_damaged_models_and_rm_frees_leftovers(installed_model, capsys):
    from qwen_tui import paths

    weights = installed_model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    leftover = paths.models_dir() / "half-done-sym_int4"
    leftover.mkdir()
    (leftover / "pytorch_model.bin").write_bytes(b"x" * 5000)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny-sym_int4" in out and "damaged: model.safetensors has the wrong size" in out
    assert "half-done-sym_int4" in out and "incomplete (no manifest)" in out
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["local"]}
    assert rows["tiny-sym_int4"]["problems"] and rows["half-done-sym_int4"]["incomplete"]
    assert main(["rm", "half-done-sym_int4"]) == 0
    assert not leftover.exists()
    assert main(["rm", "tiny-sym_int4"]) == 0 and not installed_model.exists()


HOSTILE_NAMES = [
    "[/]",
    "[b]x[/b]",
    "../etc",
    "a\x07b",
    "名字😀",
    "x" * 300,
    "-rf",
    " ",
]  # argv holds no NUL


def test_hostile_names_and_paths_get_one_line_each(installed_model, tmp_path):
    for name in HOSTILE_NAMES:
        for args in (["ask", "hi", "--model", name], ["rm", name], ["verify", name],
                     ["eval", name]):  # fmt: skip
            result = run(*args)
            assert result.returncode in (1, 2), (args, result.stderr)
            assert "Traceback" not in result.stderr, (args, result.stderr)
        odd = tmp_path / f"dir[{len(name)}]"
        result = run("quantize", str(odd), "--name", name)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr


def test_an_unexpected_error_is_one_line_and_a_traceback_in_the_log(monkeypatch, capsys):
    from qwen_tui import commands, paths

    def broken(args):
        raise ZeroDivisionError("a bug of ours")

    monkeypatch.setattr(commands, "models", broken)
    assert main(["models"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unexpected error (ZeroDivisionError: a bug of ours)" in err[0]
    assert str(paths.log_file()) in err[0]
    logged = paths.log_file().read_text()
    assert "Traceback" in logged and "ZeroDivisionError" in logged and "qwen-tui models" in logged


def test_bytes_that_are_not_utf8_reach_the_model_as_the_replacement_character(installed_model):
    """From argv (lone surrogates, as Python decodes them) and from a pipe: one U+FFFD each,
    a reply, exit 0; never a tokenizer error or a surrogate sent to the model."""
    from qwen_tui.ask_command import as_typed

    assert as_typed("bad \udcff byte") == "bad \ufffd byte"
    assert as_typed("\ud800") == "\ufffd" * 3 and as_typed("plain 你好") == "plain 你好"
    args = [sys.executable, "-m", "qwen_tui", "ask", "--max-new-tokens", "3", "--temperature", "0"]
    env = os.environ.copy()
    argv = subprocess.run([*args, b"bad \xff byte"], capture_output=True, env=env, timeout=120)
    assert argv.returncode == 0, argv.stderr
    piped = subprocess.run([*args, "-"], input=b"\xfe\xff", capture_output=True, env=env)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode("utf-8")  # the reply is UTF-8
