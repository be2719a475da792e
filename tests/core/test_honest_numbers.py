"""The sizes qwen-tui promises against what its commands take: a Qwen2 of a few hundred MB
(tests/scaled_model.py) quantized (the quality check on, and off) and asked a question in child
processes, whose peak RSS (``ru_maxrss``) the estimates must cover without overstating it by
more than a quarter (+ 64 MB); and the stored size, to the byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scaled_model import build_scaled_qwen2

from qwen_tui import paths
from qwen_tui.families.qwen2 import QWEN2
from qwen_tui.manifest import read_manifest
from qwen_tui.recipes import DEFAULT_RECIPE, RECIPES
from qwen_tui.sizes import MB, chat_ram, packed_file_bytes, stored_bytes
from qwen_tui.store.source import SUPPORT_FILES, estimate_needs
from qwen_tui.store.stream import WEIGHTS

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def scaled(tmp_path_factory) -> Path:
    return build_scaled_qwen2(tmp_path_factory.mktemp("scaled") / "src")


# A child's ru_maxrss starts from the RSS of the process it was forked from (Linux carries the
# old high-water mark across exec), so the command is started by a small launcher, not by this
# process (hundreds of MB of pytest and torch), and the launcher reports what wait4 says.
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss(args: list[str], log: Path) -> int:
    """Run ``qwen-tui ARGS`` as a child process; its peak resident memory in bytes."""
    result = log.with_suffix(".maxrss")
    command = [sys.executable, "-c", LAUNCHER, str(result), sys.executable, "-m", "qwen_tui"]
    with open(log, "wb") as out:
        done = subprocess.run([*command, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    assert done.returncode == 0, log.read_text(errors="replace")
    return int(result.read_text()) * 1024  # KiB on Linux


def honest(measured: int, estimate: int) -> bool:
    return measured <= estimate <= 1.25 * measured + 64 * MB


def test_quantize_and_chat_take_what_the_estimates_say(scaled, tmp_path):
    config = json.loads((scaled / "config.json").read_text())
    dims, recipe = QWEN2.dims(config), RECIPES[DEFAULT_RECIPE]
    disk, quantize = estimate_needs(config, scaled, DEFAULT_RECIPE)
    _, streaming = estimate_needs(config, scaled, DEFAULT_RECIPE, measure=False)

    measured = peak_rss(["quantize", str(scaled), "--name", "big"], tmp_path / "quantize.log")
    stored = read_manifest(paths.models_dir() / f"big-{DEFAULT_RECIPE}")
    assert set(stored.quality["texts"]) == {"english", "code", "chinese"}  # the check ran
    assert honest(measured, quantize), (measured / MB, quantize / MB)

    weights = next(f.size for f in stored.files if f.name == WEIGHTS)
    packed = paths.packed_file(paths.models_dir() / f"big-{DEFAULT_RECIPE}").stat().st_size
    assert packed == packed_file_bytes(QWEN2, dims, recipe)  # kept by the check's load
    assert weights == stored_bytes(QWEN2, dims, recipe) == disk - SUPPORT_FILES - packed
    assert stored.size + packed <= disk

    asked = ["ask", "hi", "--model", "big", "--max-new-tokens", "2"]
    measured = peak_rss(asked, tmp_path / "ask.log")
    estimate = chat_ram(QWEN2, dims, recipe)
    assert honest(measured, estimate), (measured / MB, estimate / MB)

    again = ["quantize", str(scaled), "--name", "big", "--force", "--no-quality"]
    measured = peak_rss(again, tmp_path / "no-quality.log")
    assert honest(measured, streaming), (measured / MB, streaming / MB)
