"""Folders bigdl-llm's own save_low_bit wrote (the original recipe) run on the native engine:
opened, they are converted once into the store's layout (bigdl-llm's bytes for every layer,
the float embedding quantized as the recipe's), and the converted store computes, bit for bit,
what bigdl-llm's engine (qwen-tui's BigdlEngine: bigdl-llm's load_low_bit, then its forwards
with QWEN_TUI_DECODER=bigdl, or our decoder over its modules) computes on the original folder
with the same embedding rows.
(The embedding is the one thing converting changes: the native engine runs quantized tables
only. The original folder is never touched.)"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from save_low_bit import BUILDERS, folder_state, save_low_bit, stored_embedding

from qwen_tui import paths
from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.decoder.model import rotary_tables
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.open import choose_engine, open_engine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.manifest import read_manifest
from qwen_tui.recipes import RECIPES
from qwen_tui.store.sources.safetensors import read_header

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
IDS = [(7 * i + 3) % 400 for i in range(40)]
CASES = [("qwen2", fmt) for fmt in ("sym_int4", "asym_int4", "sym_int5", "asym_int5", "sym_int8")]
CASES += [("qwen2-tied", "sym_int4"), ("qwen1", "sym_int4"), ("qwen1", "sym_int8")]
CASES += [("qwen3", "sym_int4"), ("qwen3", "asym_int5")]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    built: dict = {}

    def source(family: str):
        if family not in built:
            built[family] = BUILDERS[family](tmp_path_factory.mktemp(family))
        return built[family]

    return source


def same_tables(native) -> None:
    """The native model on torch's rotary tables (bigdl-llm's), for a bit-for-bit check."""
    model = native.model
    cos, sin = rotary_tables(model.shape.head_dim, model.layout.numbers.rope_base, model.positions)
    model.rotary.cos, model.rotary.sin = cos.numpy(), sin.numpy()


def bigdls_logits(folder, table, monkeypatch, decoder: str) -> dict:
    """What bigdl-llm's engine computes on the original folder (bigdl-llm's load_low_bit), its
    embedding rows ``table``: with bigdl-llm's forwards (``decoder`` "bigdl") or our decoder
    over its modules ("ours")."""
    monkeypatch.setenv("QWEN_TUI_DECODER", decoder)
    engine = BigdlEngine(folder, threads=2)
    engine.load()
    try:
        assert engine.decoder_note.startswith("ours" if decoder == "ours" else "bigdl-llm's")
        engine._lm.model.get_input_embeddings().weight.data = torch.from_numpy(table)
        return {path: engine.score(IDS, path).numpy() for path in ("prompt", "decode")}
    finally:
        engine.unload()
        monkeypatch.delenv("QWEN_TUI_DECODER")


@pytest.mark.parametrize(("family", "low_bit"), CASES)
def test_a_converted_folder_computes_what_bigdl_llm_computes_on_the_original(
    family, low_bit, sources, tmp_path, monkeypatch
):
    saved = save_low_bit(sources(family), tmp_path / "saved", low_bit)
    before = folder_state(saved)
    assert choose_engine(saved).name == "native"
    native = open_engine(saved, threads=2)
    assert native.name == "native" and native.model_dir.parent == paths.converted_dir()
    native.load()
    try:
        embedding = RECIPES[low_bit].embedding if low_bit in RECIPES else "sym_int5"
        assert native.info.note == (
            f"Converted saved (bigdl-llm's save_low_bit, {low_bit}) once into qwen-tui's "
            f"layout at {native.model_dir}: bigdl-llm's {low_bit} bytes kept for its "
            f"{native.model.layers * 7 + 1} weight matrices; its float32 embedding quantized "
            f"to {embedding}. The original folder is unchanged."
        )
        assert native.info.low_bit == low_bit
        same_tables(native)
        ours = {path: native.score(IDS, path) for path in ("prompt", "decode")}
        table = stored_embedding(native.model_dir)
    finally:
        native.unload()
    # bigdl-llm 2.5 has no Qwen3: its "forwards" there are our torch code, which rounds
    # otherwise than our decoder (on any Qwen3 store, by up to 3 % of the largest logit)
    for decoder in ("ours",) if family == "qwen3" else ("ours", "bigdl"):
        theirs = bigdls_logits(saved, table, monkeypatch, decoder)
        for path in ("prompt", "decode"):
            assert np.array_equal(ours[path], theirs[path]), (decoder, path)
    assert folder_state(saved) == before
    monkeypatch.setenv("QWEN_TUI_DECODER", "bigdl")  # told to: bigdl-llm's, on the original
    assert open_engine(saved, threads=1).model_dir == saved


@pytest.mark.parametrize(("family", "low_bit"), [("qwen1", "sym_int4"), ("qwen2", "asym_int5")])
def test_every_layer_keeps_bigdl_llms_bytes(family, low_bit, sources, tmp_path):
    """Read back with torch itself: each layer of the store is the bytes bigdl-llm saved."""
    saved = save_low_bit(sources(family), tmp_path / "saved", low_bit)
    store = open_engine(saved, threads=1).model_dir
    state = torch.load(saved / "pytorch_model.bin", weights_only=True)
    layers = {name: t for name, t in state.items() if t.dtype == torch.uint8}
    assert len(layers) == 2 * 7 + 1
    weights = store / "model.safetensors"
    header = read_header(weights)
    for name, theirs in layers.items():
        start, info = header[name]
        ours = np.fromfile(weights, np.uint8, count=info.nbytes, offset=start)
        assert np.array_equal(ours, theirs.numpy()), name
    layout = json.loads((store / "qwen-tui-lowbit.json").read_text())
    assert set(layout["modules"].values()) == {low_bit}


def test_opening_again_uses_the_copy_and_a_changed_original_is_converted_again(sources, tmp_path):
    saved = save_low_bit(sources("qwen2"), tmp_path / "saved", "sym_int4")
    first = open_engine(saved, threads=1)
    assert first.opened_note.startswith("Converted saved")
    copy = first.model_dir
    stamp = (copy / "model.safetensors").stat().st_mtime_ns
    again = open_engine(saved, threads=1)
    assert again.model_dir == copy and again.opened_note == ""  # said once
    assert (copy / "model.safetensors").stat().st_mtime_ns == stamp
    save_low_bit(sources("qwen2"), saved, "sym_int8")  # saved again over it, another format
    third = open_engine(saved, threads=1)
    assert third.model_dir == copy and "sym_int8" in third.opened_note
    assert read_manifest(copy).low_bit == "sym_int8"
    assert [p.name for p in paths.converted_dir().iterdir()] == [copy.name]


def test_bfloat16_parts_and_a_layer_left_in_float_are_converted(sources, tmp_path):
    """bigdl-llm keeps what it does not quantize in the type the model was loaded in, and
    leaves the layers ``modules_to_not_convert`` names in float: the norms are widened to
    float32 exactly, a float layer is quantized to sym_int8, and the note says so."""
    saved = save_low_bit(
        sources("qwen2"), tmp_path / "saved", "sym_int4", torch_dtype=torch.bfloat16,
        modules_to_not_convert=["lm_head"],
    )  # fmt: skip
    native = open_engine(saved, threads=1)
    assert native.opened_note.endswith(
        "bigdl-llm's sym_int4 bytes kept for its 14 weight matrices; its bfloat16 embedding "
        "quantized to sym_int5; its bfloat16 lm_head.weight quantized to sym_int8. The original "
        "folder is unchanged."
    )
    layout = json.loads((native.model_dir / "qwen-tui-lowbit.json").read_text())
    assert layout["modules"]["lm_head"] == "sym_int8"
    state = torch.load(saved / "pytorch_model.bin", weights_only=True)
    weights = native.model_dir / "model.safetensors"
    start, info = read_header(weights)["model.norm.weight"]
    ours = np.fromfile(weights, np.float32, count=info.nbytes // 4, offset=start)
    assert np.array_equal(ours, state["model.norm.weight"].float().numpy())
    native.load()
    try:
        reply = native.chat([ChatMessage("user", "hi")], GenerationParams(max_new_tokens=3))
        assert reply.stats.generated_tokens == 3
    finally:
        native.unload()


def test_sharded_and_safetensors_checkpoints_convert_to_the_same_store(sources, tmp_path):
    whole = save_low_bit(sources("qwen2"), tmp_path / "whole", "sym_int4")
    sharded = save_low_bit(sources("qwen2"), tmp_path / "sharded", "sym_int4", shard="100KB")
    assert len(list(sharded.glob("pytorch_model-*.bin"))) > 1
    assert (sharded / "pytorch_model.bin.index.json").is_file()
    tensors = shutil.copytree(whole, tmp_path / "tensors")
    save_file(torch.load(tensors / "pytorch_model.bin", weights_only=True),
              str(tensors / "model.safetensors"))  # fmt: skip
    (tensors / "pytorch_model.bin").unlink()
    stores = [open_engine(folder, threads=1).model_dir for folder in (whole, sharded, tensors)]
    weights = {(store / "model.safetensors").read_bytes() for store in stores}
    assert len(weights) == 1
