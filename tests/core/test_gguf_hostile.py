"""Hostile GGUF files (tests/gguf_hostile.py): `quantize FILE.gguf` refuses each with one line
naming what is wrong, leaves the store as it was, and never holds more memory than the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gguf_fixture import write_gguf
from gguf_hostile import corpus, raw_gguf

from qwen_tui import paths
from qwen_tui.cli import main
from qwen_tui.store.gguf_import.header import read_header

ROOT = Path(__file__).parents[2]
MB = 1 << 20
CASES = list(corpus(Path(), Path()))  # the ids only; the files are made per test


@pytest.fixture(scope="module")
def hostile(tiny_source, tmp_path_factory):
    """{id: (path, words of its refusal)}: every file of the corpus, written once."""
    good = tmp_path_factory.mktemp("good") / "good.gguf"
    write_gguf(tiny_source, good, {})
    files = {}
    for number, (case, (make, words)) in enumerate(corpus(tiny_source, good).items()):
        folder = tmp_path_factory.mktemp(f"hostile{number}")
        files[case] = (make(folder), words)
    return files


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_the_raw_writer_writes_valid_files_when_it_does_not_lie(tmp_path):
    header = read_header(raw_gguf(tmp_path / "ok.gguf"))
    assert header.metadata == {"general.architecture": "qwen2"}
    (weight,) = header.tensors
    assert (weight.name, weight.dims, weight.shape, weight.nbytes) == (
        "token_embd.weight", (8, 4), (4, 8), 128,
    )  # fmt: skip
    assert weight.offset == header.data_offset and header.data_offset % 32 == 0


@pytest.mark.parametrize("case", CASES)
def test_quantize_refuses_a_hostile_file_in_one_line_and_leaves_the_store_as_it_was(
    hostile, case, capsys
):
    path, words = hostile[case]
    paths.models_dir().mkdir(parents=True)
    (paths.models_dir() / "other-model").mkdir()
    before = tree(paths.cache_dir())
    assert main(["quantize", str(path), "--name", "x"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"qwen-tui: {path.name} ") and words in err, err
    assert tree(paths.cache_dir()) == before


CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a regression fails, not the machine
import qwen_tui.cli, qwen_tui.commands, qwen_tui.store.quantize, qwen_tui.store.gguf_import.checks
code = 0 if sys.argv[1] == "-" else qwen_tui.cli.main(["quantize", sys.argv[1], "--name", "x"])
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) * 1024, code)
"""


def peak_memory(path: str) -> tuple[int, int]:
    """(peak resident bytes, exit code) of a fresh process that quantizes ``path``; "-" only
    imports the same modules."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)  # fmt: skip
    peak, code = done.stdout.split()
    return int(peak), int(code)


def test_refusing_a_hostile_file_holds_no_more_memory_than_the_file(hostile):
    baseline, _ = peak_memory("-")
    grown = {}
    for case, (path, _) in hostile.items():
        peak, code = peak_memory(str(path))
        grown[case] = (peak - baseline) // MB
        assert peak - baseline < path.stat().st_size + 64 * MB, (case, grown)
        assert code == 2, case  # refused as a bad file (1: it got further and failed there)
