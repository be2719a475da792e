"""The `qwen-tui serve` command: its refusals before loading, and a real run to Ctrl+C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import openai


def run_cli(*args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "qwen_tui", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def status_of(url, headers):
    request = urllib.request.Request(f"{url}/v1/models", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def one_line(result, code):
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("qwen-tui: "), result.stderr
    return lines[0]


def test_another_address_than_loopback_needs_an_api_key():
    line = one_line(run_cli("--host", "0.0.0.0"), 2)
    assert "needs an API key" in line and "--api-key" in line
    assert "--port must be" in one_line(run_cli("--port", "70000"), 2)


def test_bad_access_and_limit_flags_are_one_sentence():
    for flags, words in [
        (["--cors-origin", "*"], "needs an API key"),
        (["--allowed-host", "*"], "needs an API key"),
        (["--cors-origin", "localhost:3000"], "not a web origin"),
        (["--allowed-host", "a/b"], "not a host name"),
        (["--max-body", "lots"], "--max-body: 'lots' is not a size"),
        (["--max-queue", "0"], "--max-queue must be at least 1"),
        (["--max-connections", "0"], "--max-connections must be at least 1"),
    ]:
        assert words in one_line(run_cli(*flags), 2), flags


def test_a_busy_port_is_one_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run_cli("--port", str(port)), 1)
    assert f"Port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_the_command_serves_a_model_and_ctrl_c_stops_it_with_0(installed_model):
    flags = ["--allowed-host", "my.box", "--cors-origin", "http://localhost:3000"]
    process = subprocess.Popen(
        [sys.executable, "-m", "qwen_tui", "serve", "--port", "0", "--model", "tiny", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        line = process.stderr.readline()  # written once the model is loaded
        assert "serving tiny-sym_int4" in line and "Ctrl+C" in line, line
        url = line.split(" at ", 1)[1].split("/v1")[0]
        port = url.rsplit(":", 1)[1]
        assert status_of(url, {"Host": f"my.box:{port}"}) == 200
        assert status_of(url, {"Host": f"evil.example:{port}"}) == 403
        assert status_of(url, {"Origin": "http://localhost:3000"}) == 200
        assert status_of(url, {"Origin": "http://localhost:3001"}) == 403
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        stream = client.chat.completions.create(
            model="tiny-sym_int4",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=3000,
            stream=True,
        )
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        ended = threading.Event()

        def drain():
            try:
                for _ in stream:
                    pass
            except openai.APIError:  # the server's last word: it is shutting down
                pass
            ended.set()

        threading.Thread(target=drain, daemon=True).start()
        process.send_signal(signal.SIGINT)  # stops the reply under way, then the server
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert err.strip().endswith("qwen-tui: stopped.") and "Traceback" not in err
        assert ended.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
