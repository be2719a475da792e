"""``open_engine`` picks the native engine for a store qwen-tui wrote, and bigdl-llm's where a
setting, the CPU or the model needs it, saying why; ``QWEN_TUI_DECODER=bigdl`` is today's
bigdl-llm engine, with the same greedy reply."""

from __future__ import annotations

import json
import shutil

import pytest

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.engine import BigdlEngine
from qwen_tui.engine.native.engine import NativeEngine
from qwen_tui.engine.open import choose_engine, open_engine
from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.errors import EngineError

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)
GREEDY = GenerationParams(temperature=0, max_new_tokens=12, repetition_penalty=1.0)
HELLO = [ChatMessage("user", "Hello!")]


@pytest.fixture
def store(tiny_quantized, tmp_path):
    """A copy of the tiny store this test may change."""
    return shutil.copytree(tiny_quantized.path, tmp_path / "tiny-sym_int4")


def edit_json(path, **changes):
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, **changes}))


def test_a_store_qwen_tui_wrote_opens_on_the_native_engine(tiny_quantized):
    engine = open_engine(tiny_quantized.path, threads=1)
    assert isinstance(engine, NativeEngine) and engine.engine_note == "native"


@pytest.mark.parametrize(
    ("variable", "value", "engine"),
    [
        ("QWEN_TUI_DECODER", "bigdl", "bigdl"),
        ("QWEN_TUI_DECODER", "ours", "native"),
        ("QWEN_TUI_MATMUL", "bigdl", "bigdl"),
        ("QWEN_TUI_MATMUL", "dequant", "bigdl"),
        ("QWEN_TUI_MATMUL", "ours", "native"),
        ("QWEN_TUI_MATMUL", "auto", "native"),
    ],
)
def test_settings_that_ask_for_bigdl_llm_get_it(
    tiny_quantized, monkeypatch, variable, value, engine
):
    monkeypatch.setenv(variable, value)
    opened = open_engine(tiny_quantized.path, threads=1)
    assert opened.name == engine
    if engine == "bigdl":
        assert isinstance(opened, BigdlEngine)
        assert opened.engine_note == f"bigdl ({variable}={value})"


def test_qwen_tui_decoder_bigdl_is_todays_bigdl_engine(tiny_quantized, engine, monkeypatch):
    monkeypatch.setenv("QWEN_TUI_DECODER", "bigdl")
    bigdl = open_engine(tiny_quantized.path, threads=1)
    bigdl.load()
    try:
        assert bigdl.decoder_note == "bigdl-llm's forwards (QWEN_TUI_DECODER=bigdl)"
        assert bigdl.chat(HELLO, GREEDY).token_ids == engine.chat(HELLO, GREEDY).token_ids
    finally:
        bigdl.unload()


def test_a_cpu_without_avx2_gets_bigdl_llm(tiny_quantized, monkeypatch):
    monkeypatch.setattr(kernels, "float_kernels", lambda: False)
    choice = choose_engine(tiny_quantized.path)
    assert choice.name == "bigdl" and "AVX2" in choice.why


def test_folders_and_models_the_native_engine_does_not_run(store):
    from qwen_tui.manifest import read_manifest, write_manifest

    assert choose_engine(store).name == "native"
    layout = store / "qwen-tui-lowbit.json"
    kept = layout.read_text()
    layout.unlink()  # as bigdl-llm's save_low_bit folders are
    assert (
        choose_engine(store).why
        == "the folder has no qwen-tui-lowbit.json (bigdl-llm's save_low_bit wrote it)"
    )
    layout.write_text(kept)
    edit_json(store / "config.json", model_type="llama")
    assert choose_engine(store).why == "no decoder for model_type 'llama'"
    edit_json(store / "config.json", model_type="qwen2", auto_map={"AutoModelForCausalLM": "x.Y"})
    manifest = read_manifest(store)
    write_manifest(store, manifest.__class__(**{**manifest.__dict__, "remote_code": True}))
    assert choose_engine(store).why == "the model runs its own code"


def test_a_qwen3_with_rope_scaling_is_left_to_bigdl_llm_saying_why(store):
    edit_json(store / "config.json", model_type="qwen3", rope_scaling={"type": "yarn"})
    choice = choose_engine(store)
    assert choice.name == "bigdl" and "rope_scaling" in choice.why


def test_the_native_engine_refuses_what_it_does_not_run_in_a_sentence(store):
    config = store / "config.json"  # a family it has no decoder for, the file's size kept
    config.write_text(config.read_text().replace('"qwen2"', '"qwen9"'))
    with pytest.raises(EngineError) as caught:
        NativeEngine(store, threads=1)._load()
    assert caught.value.message == (
        "qwen-tui's own engine does not run tiny: no decoder for model_type 'qwen9'."
    )
    assert "QWEN_TUI_DECODER=bigdl" in caught.value.hint


def test_doctor_says_which_engine_runs(installed_model, monkeypatch):
    from qwen_tui import doctor

    found = {f.area: f for f in doctor.run_checks()}
    assert found["engine"].ok and found["engine"].text.startswith("qwen-tui's own (no torch")
    assert found["model tiny-sym_int4"].text == "every file has its size"
    monkeypatch.setenv("QWEN_TUI_MATMUL", "dequant")
    found = {f.area: f for f in doctor.run_checks()}
    assert found["engine"].text == "bigdl-llm's, with torch: QWEN_TUI_MATMUL=dequant"
    assert found["model tiny-sym_int4"].text.endswith(
        "; it loads on bigdl (QWEN_TUI_MATMUL=dequant)"
    )
