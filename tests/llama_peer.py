"""A real OpenAI-compatible peer for the remote-model tests: llama-cpp-python's server (in the
venv scripts/peers.sh makes) serving a GGUF written here from a tiny model.

Found at ``$QWEN_TUI_LLAMA_PYTHON``, else at peers.sh's venv. Where neither exists the tests
skip and say so; with QWEN_TUI_REQUIRE_PEERS=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from openai_fake import free_port


def llama_python() -> str:
    """The Python of an environment with llama-cpp-python's server, or skip (fail in CI)."""
    named = os.environ.get("QWEN_TUI_LLAMA_PYTHON")
    peers = Path(os.environ.get("QWEN_TUI_PEERS") or Path.home() / ".cache" / "qwen-tui-peers")
    python = Path(named) if named else peers / "llama-server-avx2" / "bin" / "python"
    if python.is_file():
        return str(python)
    why = f"no llama-cpp-python server at {python} (./scripts/peers.sh installs it)"
    if os.environ.get("QWEN_TUI_REQUIRE_PEERS") == "1":
        pytest.fail(why + "; QWEN_TUI_REQUIRE_PEERS=1 makes this a failure")
    pytest.skip(why)


def llama_lib_dir() -> Path:
    """``llama_cpp/lib`` (its ggml libraries) beside that Python, or skip (fail in CI)."""
    env = Path(llama_python()).parent.parent
    found = sorted(env.glob("lib/python3*/site-packages/llama_cpp/lib"))
    if found and (found[0] / "libggml-cpu.so").is_file():
        return found[0]
    why = f"no llama_cpp/lib with libggml-cpu.so under {env}"
    if os.environ.get("QWEN_TUI_REQUIRE_PEERS") == "1":
        pytest.fail(why + "; QWEN_TUI_REQUIRE_PEERS=1 makes this a failure")
    pytest.skip(why)


@contextmanager
def llama_server(gguf: Path, alias: str, n_ctx: int = 512) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port; yields its API root (…/v1)."""
    python = llama_python()
    port = free_port()
    command = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
               "--n_threads", "1"]  # fmt: skip
    log = gguf.with_suffix(".server.log")
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "llama-cpp-python's server did not start"
            try:
                with urllib.request.urlopen(base + "/models", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
