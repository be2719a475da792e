"""The real Qwen2.5-Coder-0.5B-Instruct (GGUF): import, answers in every format, and the
default format's perplexity within what README.md claims of the float model. Skipped, saying
why, where the package index that carries the weights cannot be reached; with
QWEN_TUI_REQUIRE_REAL=1 (set by .ci/run) that is a failure instead."""

import json
import os
from pathlib import Path

import pytest
from real_model import fetch

from qwen_tui.engine.types import ChatMessage, GenerationParams
from qwen_tui.families.qwen2 import QWEN2
from qwen_tui.recipes import DEFAULT_RECIPE, RECIPES
from qwen_tui.sizes import packed_file_bytes

GREEDY = GenerationParams(temperature=0, max_new_tokens=40, repetition_penalty=1.0)
LICENCES = Path(__file__).parents[1] / "fixtures" / "licences"  # Debian's common-licenses
APACHE, GPL3 = LICENCES / "Apache-2.0", LICENCES / "GPL-3"
# README.md: the default format's perplexity is within +1 % of the float model on every text
CLAIMED_CHANGE_PCT = 1.0


@pytest.fixture(scope="session")
def real_gguf():
    path, why = fetch()
    if path is None:
        if os.environ.get("QWEN_TUI_REQUIRE_REAL") == "1":
            pytest.fail(f"no real model: {why} (QWEN_TUI_REQUIRE_REAL=1 makes this a failure)")
        pytest.skip(f"no real model: {why}")
    return path


@pytest.fixture(scope="session")
def real_float(real_gguf, tmp_path_factory):
    from qwen_tui.store.gguf_import import convert_gguf

    folder = tmp_path_factory.mktemp("real-float")
    convert_gguf(real_gguf, folder)
    return folder


@pytest.fixture(scope="session")
def real_store(tmp_path_factory):
    return tmp_path_factory.mktemp("real-store")


@pytest.fixture(scope="session")
def real_default(real_gguf, real_store):
    """The default format, quantized straight from the GGUF file (its quality measured)."""
    from qwen_tui.store.quantize import quantize_folder

    return quantize_folder(real_gguf, "coder", DEFAULT_RECIPE, root=real_store)


def real_default_source(manifest):
    return Path(manifest.source)


def ask(model, messages, params=GREEDY, **kwargs):
    from qwen_tui.engine.open import open_engine

    engine = open_engine(model.path, threads=2, kv_cache_mb=0)
    engine.load()
    try:
        return engine.chat(messages, params, **kwargs)
    finally:
        engine.unload()


def test_it_calls_a_tool_asked_or_made_to(real_default):
    """Qwen2.5-Coder writes its calls as bare JSON, not in <tool_call> tags (20 of 20 seeds,
    scripts/tool_call_rate.py): read as calls; made to call, it finishes the engine's opening."""
    from qwen_tui.engine.types import NamedTool, ToolSpec

    weather = ToolSpec(
        "get_weather",
        "Get the current weather in a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    question = [ChatMessage("user", "What's the weather in Paris right now?")]
    for choice in ["auto", NamedTool("get_weather")]:
        reply = ask(real_default, question, tools=[weather], tool_choice=choice)
        assert [c.name for c in reply.tool_calls] == ["get_weather"], reply.text
        assert json.loads(reply.tool_calls[0].arguments)["city"] == "Paris"
        assert reply.text == "" and reply.stats.finish_reason == "tool_calls"


def test_the_gguf_imports_and_answers_right(real_default):
    from qwen_tui.store.gguf_import import estimate_gguf_needs

    manifest = real_default.manifest
    assert manifest.family == "qwen2" and manifest.low_bit == DEFAULT_RECIPE
    assert manifest.size <= 0.55e9  # the whole store folder, embedding table included
    from qwen_tui.store.source import SUPPORT_FILES
    from qwen_tui.store.stream import WEIGHTS

    disk, _ = estimate_gguf_needs(real_default_source(manifest), DEFAULT_RECIPE)
    weights = next(f.size for f in manifest.files if f.name == WEIGHTS)
    # the packed copy the first load keeps (test_packed_cache holds the file to this size)
    dims = QWEN2.dims(json.loads((real_default.path / "config.json").read_text()))
    packed = packed_file_bytes(QWEN2, dims, RECIPES[DEFAULT_RECIPE])
    assert disk - SUPPORT_FILES - packed == weights  # the estimate the wizard shows, to the byte
    assert disk >= manifest.size + packed  # nothing unpacked beside them any more
    quality = manifest.quality
    assert set(quality["texts"]) == {"english", "code", "chinese"}
    assert quality["worst_change_pct"] < CLAIMED_CHANGE_PCT
    reply = ask(real_default, [ChatMessage("user", "What is the capital of France?")])
    assert "Paris" in reply.text
    question = [ChatMessage("user", "Write a Python function that reverses a string.")]
    code = ask(
        real_default, question, GenerationParams(**{**GREEDY.to_dict(), "max_new_tokens": 150})
    )
    assert "def " in code.text and "return" in code.text


def licence_prompt():
    text = APACHE.read_text(encoding="utf-8")[:1500]
    return [ChatMessage("user", text + "\n\nSummarize the text above in one sentence.")]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_format_summarizes_a_long_prompt_sensibly(
    recipe, real_float, real_store, real_default
):
    """~400 prompt tokens: the formats whose prompt path once answered "!!!!" or "[Z, 1] = 1,
    1, 1" must now read the licence like the others."""
    from qwen_tui.store.quantize import quantize_folder

    model = real_default
    if recipe != DEFAULT_RECIPE:
        model = quantize_folder(real_float, "coder", recipe, root=real_store, measure=False)
    reply = ask(model, licence_prompt())
    words = reply.text.split()
    assert reply.stats.prompt_tokens > 300
    assert "licen" in reply.text.lower() or "apache" in reply.text.lower(), reply.text
    assert len(words) >= 5 and len(set(words)) > len(words) / 3, reply.text  # not a loop
    assert sum(c.isalpha() for c in reply.text) > len(reply.text) / 2, reply.text


def test_the_default_format_is_within_what_the_readme_claims(real_default, real_float):
    """Perplexity on the texts of README's table (CPython's json/decoder.py, the GPL-3 and the
    default texts), prompt path and decode path: every change below CLAIMED_CHANGE_PCT."""
    import json.decoder

    from qwen_tui.engine.open import open_engine
    from qwen_tui.eval.float_reference import open_reference
    from qwen_tui.eval.run import Text, default_texts, evaluate

    texts = default_texts() + [
        Text("json-decoder", Path(json.decoder.__file__).read_text()),
        Text("gpl-3", GPL3.read_text(encoding="utf-8")),
    ]
    engine = open_engine(real_default.path, threads=2, kv_cache_mb=0)
    engine.load()
    try:
        reference = open_reference(real_float)
        result = evaluate(engine, texts[:3], 512, reference, ("prompt", "decode"))
        result["texts"] += evaluate(engine, texts[3:], 512, reference, ("prompt",))["texts"]
    finally:
        engine.unload()
    for text in result["texts"]:
        assert text["prompt"]["change_pct"] < CLAIMED_CHANGE_PCT, json.dumps(text)
        assert text["prompt"]["top1"] > 0.85, json.dumps(text)
        if "decode" in text:
            assert abs(text["decode"]["ppl"] - text["prompt"]["ppl"]) < 1e-3 * text["prompt"]["ppl"]
