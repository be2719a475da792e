"""A Qwen3.5 GGUF (``qwen35``, as llama.cpp's converter writes it) into the store: the tiny
Qwen3.5 of tests/fixtures/qwen35_reference converted by the converter itself
(tests/fixtures/qwen35_gguf, make.py there). Its metadata reads to the checkpoint's config,
the converter's steps are undone as each chunk of rows is read, the MTP layer is left out, the
store written from it holds the bytes the store written from the folder holds, and the float
reference computed from it gives transformers' logits."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from gguf import GGUFReader
from qwen35_gguf import F32_GGUF, Q8_GGUF, REFERENCE, f16_tensors, rewrite
from safetensors.numpy import load_file

from qwen_tui.engine.tokenizer import ChatTokenizer
from qwen_tui.errors import UsageError
from qwen_tui.eval.float_reference import _floats, open_reference
from qwen_tui.families import BY_NAME
from qwen_tui.families.qwen35_gguf import to_gguf
from qwen_tui.recipes import RECIPES
from qwen_tui.store import quantize, stream
from qwen_tui.store.gguf_import import convert_gguf, load_float_model
from qwen_tui.store.gguf_import.convert import hf_config
from qwen_tui.store.gguf_import.read import open_gguf
from qwen_tui.store.quantize import quantize_folder
from qwen_tui.store.sources.gguf import GgufSource
from qwen_tui.store.sources.safetensors import SafetensorsSource
from qwen_tui.store.stream import stream_folder

QWEN35 = BY_NAME["qwen35"]
CONFIG = json.loads((REFERENCE / "config.json").read_text())
NORMS = ("layernorm.weight", "q_norm.weight", "k_norm.weight", "model.norm.weight")


@pytest.fixture(scope="module")
def recorded():
    return load_file(str(REFERENCE / "reference.safetensors"))


@pytest.mark.parametrize("gguf", [F32_GGUF, Q8_GGUF], ids=["f32-mtp", "q8_0"])
def test_its_metadata_reads_to_the_checkpoints_dimensions(gguf):
    """block_count counts the MTP layer (5 = 4 + nextn_predict_layers) in the F32 file, not in
    the one converted with --no-mtp; every other number is the checkpoint's."""
    config = hf_config(open_gguf(gguf))
    assert QWEN35.dims(config) == QWEN35.dims(CONFIG)
    assert config["num_hidden_layers"] == 4
    assert config["mtp_num_hidden_layers"] == (1 if gguf == F32_GGUF else 0)
    assert config["rope_parameters"]["mrope_section"] == [2, 1, 1]
    assert GGUFReader(str(gguf)).fields["qwen35.block_count"].contents() == (
        5 if gguf == F32_GGUF else 4
    )


def test_without_recurrent_layers_the_interval_says_which_layers_are_full(tmp_path):
    """llama.cpp's own reading: every full_attention_interval-th layer is full attention."""
    from qwen35_gguf import DROP

    path = rewrite(F32_GGUF, tmp_path / "m.gguf", metadata={
        "qwen35.attention.recurrent_layers": DROP, "qwen35.full_attention_interval": 3,
    })  # fmt: skip
    assert hf_config(open_gguf(path))["layer_types"] == [
        "linear_attention", "linear_attention", "full_attention", "linear_attention",
    ]  # fmt: skip


def test_the_source_holds_the_checkpoints_tensors_and_leaves_the_mtp_layer_out():
    source = GgufSource(F32_GGUF)
    weights = load_file(str(REFERENCE / "model.safetensors"))
    assert sorted(source.names()) == sorted(weights)  # blk.4 (MTP) has no name here
    for name, want in weights.items():
        assert source.info(name).shape == want.shape, name
        with source.read(name) as data:
            got = _floats(data).reshape(want.shape)
        if name.endswith(NORMS):  # stored as 1 + w: 1 + w comes back exactly
            assert np.array_equal(got + np.float32(1), want + np.float32(1)), name
        elif name.endswith("A_log"):  # stored as -exp(A_log)
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-7)
        else:  # moved, squeezed or as they are: bit for bit
            assert np.array_equal(got, want), name


def test_value_heads_come_back_in_any_chunk_of_rows(tmp_path):
    """Three value heads per key head (the fixture has two, whose reorder is its own inverse):
    each tensor the converter's steps change, written as they make it, read back a few rows
    at a time, is the checkpoint's."""
    config = {**CONFIG, "linear_num_value_heads": 6}
    dims = QWEN35.dims(config)
    rng = np.random.default_rng(5)
    wanted, written = {}, {}
    for spec in QWEN35.layer_tensors_of(dims, 0):
        if spec.gguf_steps:
            values = rng.uniform(-2, 0, spec.shape_in(dims)).astype(np.float32)
            wanted[spec.source_in(dims, 0)] = values
            written[spec.gguf.format(i=0)] = to_gguf(values, spec.gguf_steps, dims)
    for layer in (1, 3):  # the other linear layers: the same shapes
        written |= {k.replace("blk.0.", f"blk.{layer}."): v for k, v in written.items()
                    if k.startswith("blk.0.")}  # fmt: skip
    heads = {"qwen35.ssm.time_step_rank": 6, "qwen35.ssm.inner_size": 96}
    path = rewrite(F32_GGUF, tmp_path / "m.gguf", tensors=written, metadata=heads)
    source = GgufSource(path)
    for name, want in wanted.items():
        rows = want.shape[0]
        for step in (1, 3, 7, rows):
            pieces = []
            for start in range(0, rows, step):
                with source.read(name, (start, min(start + step, rows))) as data:
                    pieces.append(_floats(data))
            got = np.concatenate(pieces).reshape(want.shape)
            np.testing.assert_allclose(got, want, rtol=2e-7, atol=2e-7, err_msg=name)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_the_store_from_the_f32_gguf_is_the_store_from_the_folder(tmp_path, recipe):
    """Every quantized tensor byte for byte, and every float one but the norms and A_log (which
    the file holds as 1 + w and -exp(A_log)): the norms' 1 + w is the folder's exactly."""
    folder, gguf = tmp_path / "folder", tmp_path / "gguf"
    folder.mkdir(), gguf.mkdir()
    stream_folder(SafetensorsSource(REFERENCE), CONFIG, QWEN35, RECIPES[recipe], folder, threads=1)
    config = hf_config(open_gguf(F32_GGUF))
    stream_folder(GgufSource(F32_GGUF), config, QWEN35, RECIPES[recipe], gguf, threads=1)
    ours, theirs = load_file(str(gguf / stream.WEIGHTS)), load_file(str(folder / stream.WEIGHTS))
    assert list(ours) == list(theirs)
    same = [n for n in theirs if np.array_equal(ours[n], theirs[n])]
    differ = sorted(set(theirs) - set(same))
    assert all(n.endswith((*NORMS, "A_log")) for n in differ), differ
    assert all(theirs[n].dtype == np.float32 for n in differ)
    for name in differ:
        if name.endswith("A_log"):
            np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=2e-7)
        else:
            assert np.array_equal(ours[name] + np.float32(1), theirs[name] + np.float32(1))
    assert (gguf / stream.LAYOUT).read_text() == (folder / stream.LAYOUT).read_text()
    stored = [json.loads((f / "config.json").read_text()) for f in (gguf, folder)]
    assert QWEN35.dims(stored[0]) == QWEN35.dims(stored[1])


@pytest.mark.parametrize("kind", ["q8_0", "f16"])
def test_a_gguf_streams_to_the_bytes_of_its_unpacked_float_folder(tmp_path, monkeypatch, kind):
    """Its blocks dequantized (Q8_0, by the converter) or its float16 rows kept 16 bits wide
    (F16: rows moved as they are, columns moved once widened), the steps undone a few rows at
    a time (the stream) or whole (convert_gguf's float folder, from_gguf): the same store."""
    gguf = Q8_GGUF if kind == "q8_0" else rewrite(F32_GGUF, tmp_path / "f16.gguf",
                                                   tensors=f16_tensors())  # fmt: skip
    unpacked, old, new = tmp_path / "float", tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    config = convert_gguf(gguf, unpacked)
    recipe = RECIPES["mixed_int5"]
    stream_folder(SafetensorsSource(unpacked), config, QWEN35, recipe, old, threads=1)
    monkeypatch.setattr(stream, "CHUNK_VALUES", 150)  # two or three rows at a time
    source = GgufSource(gguf)
    assert {source.info(n).dtype for n in source.names()} >= {f"GGUF:{kind.upper()}", "GGUF:F32"}
    stream_folder(source, config, QWEN35, recipe, new, threads=1)
    assert (old / stream.WEIGHTS).read_bytes() == (new / stream.WEIGHTS).read_bytes()


@pytest.mark.parametrize("gguf", [F32_GGUF, Q8_GGUF], ids=["f32", "q8_0"])
def test_the_float_reference_from_the_gguf(recorded, gguf, tmp_path):
    """From the F32 file: transformers' logits to 1e-4 of the largest. From the Q8_0 one: the
    float reference of its own dequantized weights (its unpacked folder's), to the same."""
    ids = recorded["ids"].tolist()
    got = open_reference(gguf).logits(ids)
    if gguf == F32_GGUF:
        want = recorded["logits"]
    else:
        convert_gguf(gguf, tmp_path / "float")
        want = open_reference(tmp_path / "float").logits(ids)
        assert np.abs(got - recorded["logits"]).max() > 1e-2  # it is not the float model
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_a_family_without_a_decoder_is_refused_before_any_work(tmp_path, monkeypatch):
    """Whatever family's decoder is missing (Qwen3.5's was, until the native engine ran it)."""
    monkeypatch.setitem(quantize.BY_NAME, "qwen35", replace(QWEN35, decoded=False))
    with pytest.raises(UsageError, match="qwen35 model, which qwen-tui computes only as a float"):
        quantize_folder(F32_GGUF, "m", root=tmp_path / "store")
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_quantize_writes_the_store_with_its_tokenizer_and_chat_template(tmp_path, monkeypatch,
                                                                         recorded):  # fmt: skip
    """Once the decoder runs Qwen3.5 (decoded, set here): the store holds the tokenizer rebuilt
    from the metadata (the prompt's text gives the reference's ids), the chat template from
    it (thinking on: the prompt ends with <think>), and the generation defaults."""
    monkeypatch.setitem(quantize.BY_NAME, "qwen35", replace(QWEN35, decoded=True))
    model = quantize_folder(F32_GGUF, "q35", "sym_int8", root=tmp_path, measure=False)
    assert model.manifest.family == "qwen35"
    tokenizer = ChatTokenizer.from_folder(model.path)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "The quick brown fox 你好"}],
        tokenize=False, add_generation_prompt=True,
    )  # fmt: skip
    assert text.endswith("<|im_start|>assistant\n<think>\n")
    assert tokenizer.encode(text, add_special_tokens=False) == recorded["ids"].tolist()
    template = GGUFReader(str(F32_GGUF)).fields["tokenizer.chat_template"].contents()
    stored = json.loads((model.path / "tokenizer_config.json").read_text())
    assert stored["chat_template"] == template
    assert json.loads((model.path / "generation_config.json").read_text())["eos_token_id"] == [2]


def test_transformers_437_cannot_build_it_and_says_so():
    with pytest.raises(UsageError, match="holds a Qwen3.5, which the transformers"):
        load_float_model(F32_GGUF)


def test_the_gguf_and_the_folder_run_alike_on_the_native_engine(tmp_path, recorded):
    """Imported from llama.cpp's F32 file or quantized from the folder, the stored model gives
    the same logits on our hybrid decoder (the norms and A_log differ in their last bits only)."""
    from qwen35_fixture import chat_folder

    from qwen_tui.engine import kernels
    from qwen_tui.engine.native.hybrid import open_model

    if not kernels.float_kernels():
        pytest.skip("the native engine needs AVX2, which this CPU lacks")
    ids = recorded["ids"].tolist()
    logits = []
    for name, src in (("g", F32_GGUF), ("f", chat_folder(tmp_path / "folder"))):
        stored = quantize_folder(src, name, "sym_int8", root=tmp_path, measure=False)
        model = open_model(stored.path, threads=1)
        cache = model.new_cache()
        logits.append(model.logits(model.hidden(ids, cache, last_only=False)))
    scale = float(np.abs(logits[1]).max())
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-3 * scale)
    assert (logits[0].argmax(-1) == logits[1].argmax(-1)).all()
