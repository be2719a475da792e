"""`qwen-tui models` and `qwen-tui ask --model NAME` with [[remote]] entries, as real
subprocesses against the loopback fake of llama-server and vLLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from openai_fake import free_port

from qwen_tui import paths


def write_config(*entries: str, extra: str = "") -> None:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(extra + "\n".join(entries), encoding="utf-8")


def remote(name: str, base_url: str, model: str, key_env: str | None = None) -> str:
    key = f'api_key_env = "{key_env}"\n' if key_env else ""
    return f'[[remote]]\nname = "{name}"\nbase_url = "{base_url}"\nmodel = "{model}"\n{key}\n'


def run(*args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "qwen_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_models_lists_the_remote_entries(monkeypatch):
    write_config(
        remote("gpu-box", "http://gpu-box:8000/v1", "Qwen/Qwen3-8B", "GPU_KEY"),
        remote("laptop", "http://localhost:11434/v1", "qwen3:8b"),
        '[[remote]]\nname = "broken"\n',
    )
    result = run("models")
    assert result.returncode == 0, result.stderr
    assert "Remote models" in result.stdout
    assert "gpu-box" in result.stdout and "Qwen/Qwen3-8B at http://gpu-box:8000/v1" in result.stdout
    assert "key in $GPU_KEY (not set)" in result.stdout
    assert "qwen3:8b at http://localhost:11434/v1" in result.stdout
    assert "qwen-tui: config: [[remote]] 'broken': it needs the model id" in result.stderr
    data = json.loads(run("models", "--json", env={"GPU_KEY": "k"}).stdout)
    assert data["remote"] == [
        {
            "name": "gpu-box",
            "base_url": "http://gpu-box:8000/v1",
            "model": "Qwen/Qwen3-8B",
            "api_key_env": "GPU_KEY",
            "key_set": True,
        },
        {
            "name": "laptop",
            "base_url": "http://localhost:11434/v1",
            "model": "qwen3:8b",
            "key_set": False,
        },
    ]


def test_ask_streams_from_a_remote_model(fake_openai):
    fake = fake_openai("llama_server", key="k")
    write_config(remote("box", fake.base_url, "qwen3-8b", "BOX_KEY"))
    result = run("ask", "hi", "--model", "box", "--temperature", "0.2", env={"BOX_KEY": "k"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello! How can I help you today?\n"
    assert fake.requests[-1]["temperature"] == 0.2
    assert fake.requests[-1]["messages"] == [{"role": "user", "content": "hi"}]

    result = run("ask", "hi", "--json", env={"BOX_KEY": "k"})
    assert result.returncode == 1  # without --model, a remote one is used only when configured
    write_config(remote("box", fake.base_url, "qwen3-8b", "BOX_KEY"), extra='model = "box"\n')
    result = run("ask", "hi", "--json", env={"BOX_KEY": "k"})
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == "box" and payload["reply"] == "Hello! How can I help you today?"
    assert payload["stats"]["prompt_tokens"] == 14 and payload["stats"]["finish_reason"] == "stop"


def test_ask_with_an_unreachable_server_is_one_line():
    write_config(remote("box", f"http://127.0.0.1:{free_port()}/v1", "m"))
    result = run("ask", "hi", "--model", "box")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qwen-tui: "), result.stderr
    assert "refused the connection" in lines[0] and '[[remote]] "box"' in lines[0]


def test_ctrl_c_stops_a_remote_reply(fake_openai):
    fake = fake_openai("vllm", hold_after=10)  # thinks, says "Hello!", then goes on and on
    write_config(remote("box", fake.base_url, "Qwen/Qwen3-8B"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwen_tui", "ask", "hi", "--model", "box"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while not fake.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out == "Hello!\n" and "stopped; the partial reply is above" in err
    assert fake.disconnected.wait(5)
