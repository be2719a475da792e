"""The chat path imports neither torch, transformers nor bigdl-llm: `qwen-tui ask`, `qwen-tui
serve` answering a request, and the app's engine factory loading and running a model, each in a
child process that then lists what it imported. (The import contract in pyproject.toml guards
the modules; this guards the doors it lets through.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from qwen_tui.engine import kernels

ROOT = Path(__file__).parents[2]
HEAVY = ("torch", "transformers", "bigdl")
pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
# appended to each child: what it imported of the three, as the last line of stderr
REPORT = f"""
import json, sys
found = sorted({{m.split(".")[0] for m in sys.modules}} & {set(HEAVY)!r})
print(json.dumps(found), file=sys.stderr)
"""


def child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    return subprocess.Popen(
        [sys.executable, "-c", code + REPORT, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def imported(proc: subprocess.Popen) -> list[str]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(err.strip().splitlines()[-1])


def test_ask_imports_none_of_them(installed_model):
    code = """
from qwen_tui.cli import main
assert main(["ask", "hello", "--max-new-tokens", "4", "--temperature", "0", "--json"]) == 0
"""
    proc = child(code)
    assert imported(proc) == []


def test_serve_answers_a_request_without_them(installed_model):
    code = """
from qwen_tui.cli import main
main(["serve", "--port", "0", "--threads", "1"])
"""
    proc = child(code)
    assert proc.stderr is not None
    for line in proc.stderr:  # "qwen-tui: serving tiny-sym_int4 (...) at http://...:PORT/v1; ..."
        if " at http" in line:
            break
    assert "engine native" in line
    url = line.split(" at ")[1].split("/v1")[0]
    body = {"model": "tiny-sym_int4", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3, "temperature": 0}  # fmt: skip
    request = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        reply = json.loads(response.read())
    assert reply["usage"]["completion_tokens"] == 3
    proc.send_signal(signal.SIGINT)
    assert imported(proc) == []


def test_the_apps_engine_factory_loads_and_runs_a_model_without_them(installed_model):
    code = """
import sys
from qwen_tui import config
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.store import local
from qwen_tui.ui.app import local_engine

engine = local_engine(local.open_folder(sys.argv[1]), config.Settings(threads=1))
engine.load()
reply = engine.chat([ChatMessage("user", "hi")], GenerationParams(max_new_tokens=3))
assert reply.stats.generated_tokens == 3 and engine.name == "native"
engine.unload()
"""
    proc = child(code, str(installed_model))
    assert imported(proc) == []


@pytest.fixture
def save_low_bit_folder(tiny_source, tmp_path):
    """A folder bigdl-llm's own save_low_bit wrote (built here, with bigdl-llm: the child
    converts and runs it)."""
    from save_low_bit import save_low_bit

    return save_low_bit(tiny_source, tmp_path / "legacy", "sym_int4")


def test_ask_converts_and_runs_a_save_low_bit_folder_without_them(save_low_bit_folder):
    code = """
import sys
from qwen_tui.cli import main
args = ["--max-new-tokens", "4", "--temperature", "0"]
assert main(["ask", "hello", "--model-path", sys.argv[1], *args]) == 0
"""
    proc = child(code, str(save_low_bit_folder))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "qwen-tui: note: Converted legacy (bigdl-llm's save_low_bit, sym_int4)" in err
    assert json.loads(err.strip().splitlines()[-1]) == []


def test_serve_runs_a_save_low_bit_folder_without_them(save_low_bit_folder):
    code = """
import sys
from qwen_tui.cli import main
main(["serve", "--port", "0", "--threads", "1", "--model-path", sys.argv[1]])
"""
    proc = child(code, str(save_low_bit_folder))
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # the note, then "qwen-tui: serving legacy (...) at http://..."
        said.append(line)
        if " at http" in line:
            break
    assert said[0].startswith("qwen-tui: Converted legacy (bigdl-llm's save_low_bit, sym_int4)")
    assert "engine native" in said[-1]
    url = said[-1].split(" at ")[1].split("/v1")[0]
    body = {"model": "legacy", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3, "temperature": 0}  # fmt: skip
    request = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        reply = json.loads(response.read())
    assert reply["usage"]["completion_tokens"] == 3
    proc.send_signal(signal.SIGINT)
    assert imported(proc) == []


def test_a_qwen35_loads_and_chats_without_them(tmp_path):
    """Qwen3.5 (quantized here, in the test's process) on our own engine: the hybrid decoder,
    its cache and its tokenizer reach none of them either."""
    from qwen35_fixture import chat_folder

    from qwen_tui.store.quantize import quantize_folder

    source = chat_folder(tmp_path / "source")
    stored = quantize_folder(source, "q35", "sym_int8", root=tmp_path / "store", measure=False)
    code = """
import sys
from qwen_tui.engine.native.hybrid import HybridModel
from qwen_tui.engine.open import open_engine
from qwen_tui.engine.types import ChatMessage, GenerationParams

engine = open_engine(sys.argv[1], threads=1)
engine.load()
messages = [ChatMessage("user", "hi")]
reply = engine.chat(messages, GenerationParams(max_new_tokens=3), cache_key="c")
again = engine.chat(messages, GenerationParams(max_new_tokens=3), cache_key="c")
assert isinstance(engine.model, HybridModel) and again.stats.reused_tokens > 0
engine.unload()
"""
    proc = child(code, str(stored.path))
    assert imported(proc) == []
