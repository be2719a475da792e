"""The streaming quantizer writes what the whole-model path writes, byte for byte: for every
tiny family (Qwen-1, Qwen2 untied and tied, Qwen3), every recipe, and sources in float32,
bfloat16 and float16 (which stay 16 bits wide until their own blocks are quantized), and for
GGUF files of every tensor type, read straight from the file. The whole-model path
(store/whole_model.py: transformers' float model, bigdl-llm's conversion) is the oracle."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from gguf import GGMLQuantizationType as T
from gguf_fixture import write_gguf
from qwen1_fixture import build_tiny_qwen1
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from qwen_tui.engine.runtime.torch_thread import torch_thread
from qwen_tui.families import BY_NAME, family_for
from qwen_tui.recipes import RECIPES
from qwen_tui.store.progress import ignore_progress
from qwen_tui.store.sources.gguf import GgufSource
from qwen_tui.store.sources.safetensors import SafetensorsSource
from qwen_tui.store.stream import stream_folder
from qwen_tui.store.whole_model import quantize_and_save
from qwen_tui.testing.tiny import build_tiny_qwen2
from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3

BUILDERS = {
    "qwen1": build_tiny_qwen1,
    "qwen2": build_tiny_qwen2,
    "qwen2-tied": lambda path: build_tiny_qwen2(path, tie_word_embeddings=True),
    "qwen3": build_tiny_qwen3,
}
WIDTHS = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Each tiny model in each width (the weights rounded to it, as a bf16 checkpoint is)."""
    root = tmp_path_factory.mktemp("stream-sources")
    out = {}
    for name, build in BUILDERS.items():
        base = build(root / name)
        for width, dtype in WIDTHS.items():
            folder = root / f"{name}-{width}"
            shutil.copytree(base, folder)
            state = load_file(str(base / "model.safetensors"))
            save_file({k: v.to(dtype) for k, v in state.items()},
                      str(folder / "model.safetensors"), metadata={"format": "pt"})  # fmt: skip
            out[name, width] = folder
    return out


def tensors(folder):
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def assert_same_store(old, new):
    ours, theirs = tensors(new), tensors(old)
    assert sorted(ours) == sorted(theirs)
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.dtype and torch.equal(ours[name], tensor), name
    layout = json.loads((new / "qwen-tui-lowbit.json").read_text())
    assert layout == json.loads((old / "qwen-tui-lowbit.json").read_text())


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_a_folder_streams_to_the_bytes_of_the_whole_model_path(
    sources, tmp_path, model, recipe, width
):
    src = sources[model, width]
    config = json.loads((src / "config.json").read_text())
    family = family_for(config["model_type"])
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    torch_thread.run(
        lambda: quantize_and_save(
            src, old, recipe, False, family.name, lambda *_: None, ignore_progress
        )
    )
    stream_folder(SafetensorsSource(src), config, family, RECIPES[recipe], new, threads=2)
    assert_same_store(old, new)


@pytest.mark.parametrize("kind", [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_K, T.Q6_K])
def test_a_gguf_streams_to_the_bytes_of_its_unpacked_float_folder(wide_source, tmp_path, kind):
    """Today's import unpacked the file to a float32 folder and quantized that: the stream
    reads the same values from the file itself."""
    from qwen_tui.store.gguf_import import convert_gguf

    gguf = tmp_path / "m.gguf"
    weights = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
               "token_embd", "output")  # fmt: skip
    write_gguf(wide_source, gguf, {name: kind for name in weights})
    unpacked, old, new = tmp_path / "float", tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    config = convert_gguf(gguf, unpacked)
    torch_thread.run(
        lambda: quantize_and_save(
            unpacked, old, "mixed_int5", False, "qwen2", lambda *_: None, ignore_progress
        )
    )
    source = GgufSource(gguf)
    stream_folder(source, config, BY_NAME["qwen2"], RECIPES["mixed_int5"], new, threads=1)
    assert_same_store(old, new)


@pytest.mark.parametrize("model", ["qwen1", "qwen2-tied", "qwen3"])
def test_a_tensor_streamed_a_few_rows_at_a_time_is_the_same(sources, tmp_path, model, monkeypatch):
    """Large tensors go a chunk of rows at a time (never whole in memory); here every tensor
    is cut into chunks of 3 rows or so, Qwen-1's c_attn slices included."""
    from qwen_tui.store import stream

    src = sources[model, "bf16"]
    config = json.loads((src / "config.json").read_text())
    family = family_for(config["model_type"])
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    whole.mkdir(), chunked.mkdir()
    stream_folder(SafetensorsSource(src), config, family, RECIPES["mixed_int5"], whole, threads=1)
    monkeypatch.setattr(stream, "CHUNK_VALUES", 200)
    stream_folder(SafetensorsSource(src), config, family, RECIPES["mixed_int5"], chunked, threads=1)
    assert (whole / "model.safetensors").read_bytes() == (
        chunked / "model.safetensors"
    ).read_bytes()


def test_a_gguf_tensor_dequantized_a_few_rows_at_a_time_is_the_same(wide_source, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    from qwen_tui.store import stream

    gguf = tmp_path / "m.gguf"
    write_gguf(wide_source, gguf, {name: T.Q4_K for name in ("ffn_up", "ffn_down", "token_embd")})
    config = json.loads((wide_source / "config.json").read_text())
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    whole.mkdir(), chunked.mkdir()
    family, recipe = BY_NAME["qwen2"], RECIPES["sym_int5"]
    stream_folder(GgufSource(gguf), config, family, recipe, whole, threads=1)
    monkeypatch.setattr(stream, "CHUNK_VALUES", 1000)
    stream_folder(GgufSource(gguf), config, family, recipe, chunked, threads=1)
    assert (whole / "model.safetensors").read_bytes() == (
        chunked / "model.safetensors"
    ).read_bytes()
