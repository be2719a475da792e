"""A source the streaming quantizer cannot use is refused in one sentence naming the tensor
(or the file), before anything is written: the store is as it was, nothing is left staged."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from qwen_tui import paths
from qwen_tui.cli import main

LAYER0 = "model.layers.0.mlp.up_proj.weight"


def store_listing() -> list[str]:
    root = paths.models_dir()
    return sorted(p.name for p in root.rglob("*")) if root.exists() else []


def edited(tiny_source, tmp_path, change) -> object:
    folder = tmp_path / "src"
    shutil.copytree(tiny_source, folder)
    state = load_file(str(folder / "model.safetensors"))
    change(folder, state)
    return folder


def refused(folder, capsys) -> str:
    before = store_listing()
    assert main(["quantize", str(folder), "--name", "bad", "--no-quality"]) in (1, 2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert store_listing() == before  # nothing kept, nothing staged
    last = lines[-1]
    assert last.startswith("qwen-tui: ") and "Traceback" not in last
    return last


def drop(name):
    def change(folder, state):
        state.pop(name)
        save_file(state, str(folder / "model.safetensors"))

    return change


def reshape(name, shape):
    def change(folder, state):
        state[name] = np.zeros(shape, np.float32)
        save_file(state, str(folder / "model.safetensors"))

    return change


def retype(name):
    def change(folder, state):
        state[name] = state[name].astype(np.int32)
        save_file(state, str(folder / "model.safetensors"))

    return change


def cut(folder, state):
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])


def header_past_end(folder, state):
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(data) * 2) + data[8:])


def two_shards(folder, state):
    save_file({LAYER0: state[LAYER0]}, str(folder / "model-extra.safetensors"))


def not_a_number(folder, state):
    state[LAYER0][0, 0] = np.nan
    save_file(state, str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    "change, said",
    [
        (drop(LAYER0), f"{LAYER0} is missing from"),
        (reshape(LAYER0, (128, 60)), f"{LAYER0} in "),
        (retype(LAYER0), "stored as I32, which qwen-tui cannot read"),
        (cut, "lies outside the file (it may be cut short)"),
        (header_past_end, "claims a header of"),
        (two_shards, f"tensor {LAYER0} is in both"),
        (not_a_number, f"{LAYER0} in "),
    ],
    ids=["missing", "misshapen", "int32", "cut-short", "header-past-end", "two-shards", "nan"],
)
def test_a_source_that_cannot_be_used_is_one_sentence(tiny_source, tmp_path, capsys, change, said):
    line = refused(edited(tiny_source, tmp_path, change), capsys)
    assert said in line, line


def test_a_width_the_formats_cannot_take_is_named(tiny_source, tmp_path, capsys):
    folder = tmp_path / "src"
    shutil.copytree(tiny_source, folder)
    config = json.loads((folder / "config.json").read_text())
    state = load_file(str(folder / "model.safetensors"))
    inter = 100  # down_proj's input width: not a multiple of 64
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}.mlp."
        state[p + "gate_proj.weight"] = state[p + "gate_proj.weight"][:inter]
        state[p + "up_proj.weight"] = state[p + "up_proj.weight"][:inter]
        state[p + "down_proj.weight"] = np.ascontiguousarray(
            state[p + "down_proj.weight"][:, :inter]
        )
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**config, "intermediate_size": inter}))
    line = refused(folder, capsys)
    assert "down_proj.weight" in line and "not a multiple of 64" in line, line


def test_not_enough_disk_is_said_before_anything_is_written(tiny_source, capsys, monkeypatch):
    from qwen_tui.store import resources

    monkeypatch.setattr(resources, "free_disk", lambda path: 1000)
    before = store_listing()
    assert main(["quantize", str(tiny_source), "--name", "t", "--no-quality"]) == 1
    assert "disk" in capsys.readouterr().err.lower()
    assert store_listing() == before
