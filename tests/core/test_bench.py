"""`qwen-tui bench` runs the real measurements on a tiny model (numbers are not asserted)."""

import json

import pytest

from qwen_tui.cli import main


def test_bench_json_reports_every_measurement(installed_model, capsys):
    code = main(
        [
            "bench",
            "--model",
            "tiny",
            "--prompt-tokens",
            "40,128",
            "--new-tokens",
            "8",
            "--turns",
            "3",
            "--repeat",
            "2",
            "--threads",
            "1",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "tiny-sym_int4" and data["load_s"] > 0
    # whole words are added until the next would not fit: a few tokens short at most
    assert [
        n - 8 <= p["prompt_tokens"] <= n for p, n in zip(data["prompts"], (40, 128), strict=True)
    ] == [
        True,
        True,
    ]
    assert all(p["first_token_s"] > 0 and p["generated"] == 8 for p in data["prompts"])
    for p in data["prompts"]:  # the median of two runs lies between them
        assert len(p["first_token_runs"]) == len(p["decode_runs"]) == 2
        assert min(p["first_token_runs"]) <= p["first_token_s"] <= max(p["first_token_runs"])
    turns = data["turns"]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    assert turns[0]["reused_tokens"] == 0 and all(t["reused_tokens"] > 0 for t in turns[1:])
    assert data["ui_loop_lag"]["samples"] > 0
    assert data["first_reply"]["first_token_s"] > 0
    from qwen_tui.engine import kernels

    path = "ours" if kernels.available() else "bigdl"
    assert data["matmul"]["mode"] == "auto" and data["matmul"]["isa"] == kernels.chosen_isa().name
    assert data["matmul"]["layers"]["sym_int4:" + path] == 2 * 7 + 1  # two layers and the head
    memory = data["memory"]  # the read bandwidth and the roofline it gives decode
    if kernels.available():
        weights = data["matmul"]["weight_bytes"]
        assert memory["weight_mb_per_token"] == round(weights / 1e6, 1) and memory["read_gb_s"] > 0
        assert len(memory["read_gb_s_runs"]) == 2  # before and after the runs
        assert memory["read_gb_s"] == max(memory["read_gb_s_runs"])
        roofline = memory["read_gb_s"] * 1e9 / weights
        assert abs(memory["roofline_tok_s"] - roofline) <= 0.01 * roofline + 0.1
        # the tiny model: 2 layers x 4 kv heads x 16 wide, keys and values in float16
        assert memory["kv_bytes_per_position"] == 2 * 4 * 16 * 2 * 2
        for p in data["prompts"]:  # each row's roofline counts its mean context's cache too
            context = p["prompt_tokens"] + p["generated"] / 2
            per_token = weights + memory["kv_bytes_per_position"] * context
            expected = memory["read_gb_s"] * 1e9 / per_token
            assert abs(p["roofline_tok_s"] - expected) <= 0.01 * expected + 0.1
            assert p["roofline_tok_s"] < memory["roofline_tok_s"]
    if kernels.available():  # the in-cache compute ceiling, per format the model holds
        compute = data["compute"]
        assert list(compute["formats"]) == ["sym_int4"]
        held = compute["formats"]["sym_int4"]
        assert held["bytes"] == data["matmul"]["weight_bytes"] and held["gb_s_per_thread"] > 0
        ceiling = data["threads"] * held["gb_s_per_thread"] * 1e9 / held["bytes"]
        assert abs(compute["ceiling_tok_s"] - ceiling) <= 0.01 * ceiling + 0.1
    # which engine ran, and why: ours (no torch, so no patches of bigdl-llm's code)
    assert data["engine"] == "native" and data["engine_note"] == "native"
    assert data["decoder"] == "ours" and data["patches"] == {}
    assert 0 < data["rss_after_load_mb"] <= data["rss_while_chatting_mb"] <= data["peak_rss_mb"] + 1


def test_bench_table_and_bad_arguments(installed_model, capsys, monkeypatch):
    from qwen_tui.engine import kernels

    monkeypatch.setenv("QWEN_TUI_DECODER", "bigdl")  # bigdl-llm's engine: its patches shown
    assert (
        main(["bench", "--prompt-tokens", "16", "--new-tokens", "4", "--turns", "0", "--no-ui"])
        == 0
    )
    out = capsys.readouterr().out
    assert "first token" in out and "decode tok/s" in out and "median" in out
    if kernels.available():
        assert "memory: reads" in out and "of roofline" in out
    assert "engine bigdl (QWEN_TUI_DECODER=bigdl)" in out
    assert "patches 6 of 7 installed; qwen1_attention fell back (nothing in this model" in out
    assert main(["bench", "--prompt-tokens", "many"]) == 2
    assert main(["bench", "--repeat", "0"]) == 2
    assert main(["bench", "--synthetic", "llama-7b"]) == 2


def test_a_synthetic_model_is_built_straight_in_low_bit_and_answers(monkeypatch):
    """No float model: random rows are made as the quantizer asks; the store is whole (its
    manifest verifies), sized as the family's plan says, and the engine runs it."""
    from qwen_tui.bench import synthetic
    from qwen_tui.engine.open import open_engine
    from qwen_tui.engine.types import ChatMessage, GenerationParams
    from qwen_tui.manifest import verify
    from qwen_tui.recipes import RECIPES
    from qwen_tui.store.stream import plan_for

    monkeypatch.setitem(synthetic.DIMENSIONS, "tiny-q3", ("qwen3", 128, 256, 2, 2, 1, 1024, False))
    model = synthetic.synthetic_model("tiny-q3", "sym_int8")
    manifest = verify(model.path, deep=True)
    assert manifest.family == "qwen3" and "random weights" in manifest.source
    config = synthetic.synthetic_config("tiny-q3")
    _, plan = plan_for(synthetic.BY_NAME["qwen3"], config, RECIPES["sym_int8"])
    weights = next(f for f in manifest.files if f.name == "model.safetensors")
    assert sum(t.nbytes for t in plan) < weights.size < sum(t.nbytes for t in plan) + 64 * 1024
    engine = open_engine(model.path, threads=1)  # as bench opens it: ours, without torch
    engine.load()
    try:
        assert engine.name == "native"
        reply = engine.chat([ChatMessage("user", "hi")], GenerationParams(max_new_tokens=4))
    finally:
        engine.unload()
    assert reply.stats.generated_tokens >= 1
    assert synthetic.synthetic_model("tiny-q3", "sym_int8").path == model.path  # cached


def test_a_synthetic_qwen35_is_built_and_runs_on_our_engine(monkeypatch):
    """Qwen3.5's dimensions (a hybrid of Gated DeltaNet and full layers) as a config.json
    transformers 5 would write, built straight in low-bit and run by the hybrid decoder."""
    from qwen_tui.bench import synthetic
    from qwen_tui.engine.native.hybrid import HybridModel
    from qwen_tui.engine.open import open_engine
    from qwen_tui.engine.types import ChatMessage, GenerationParams

    tiny = (128, 256, 4, 2, 1, 64, 2, 2, 32, 32, 1024, True)
    monkeypatch.setitem(synthetic.HYBRID, "tiny-q35", tiny)
    model = synthetic.synthetic_model("tiny-q35", "mixed_int5")
    assert model.manifest.family == "qwen35"
    engine = open_engine(model.path, threads=1)
    engine.load()
    try:
        assert isinstance(engine.model, HybridModel)
        assert engine.model.layout.dims.layer_types[3] == "full_attention"
        reply = engine.chat([ChatMessage("user", "hi")], GenerationParams(max_new_tokens=4))
    finally:
        engine.unload()
    assert reply.stats.generated_tokens >= 1


def test_bench_counts_a_hybrid_models_recurrent_state_in_decodes_roofline(monkeypatch, capsys):
    """Each decoded token of a Qwen3.5 reads and writes every Gated DeltaNet layer's state (a
    float32 k x v matrix per value head) and conv window, whatever the context: the roofline
    counts those bytes beside the weights."""
    from qwen_tui.bench import synthetic
    from qwen_tui.engine import kernels

    if not kernels.available():
        pytest.skip("our kernels are not built for this CPU: bench reports no roofline")
    tiny = (128, 256, 4, 2, 1, 64, 2, 2, 32, 32, 1024, True)  # layers 0-2 linear, 3 full
    monkeypatch.setitem(synthetic.HYBRID, "tiny-q35", tiny)
    argv = ["bench", "--synthetic", "tiny-q35", "--prompt-tokens", "16", "--new-tokens", "4",
            "--turns", "0", "--threads", "1", "--no-ui", "--json"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    memory = data["memory"]
    conv_channels = 2 * 2 * 32 + 2 * 32  # q and k of 2 key heads, v of 2 value heads
    per_layer = 2 * 32 * 32 + 3 * conv_channels  # the states, the kernel's last 3 inputs
    assert memory["state_bytes_per_token"] == 2 * 3 * per_layer * 4  # read and written
    weights = memory["weight_bytes"]
    expected = memory["read_gb_s"] * 1e9 / (weights + memory["state_bytes_per_token"])
    assert abs(memory["roofline_tok_s"] - expected) <= 0.01 * expected + 0.1
    for p in data["prompts"]:
        context = p["prompt_tokens"] + p["generated"] / 2
        per_token = weights + memory["state_bytes_per_token"]
        per_token += memory["kv_bytes_per_position"] * context
        expected = memory["read_gb_s"] * 1e9 / per_token
        assert abs(p["roofline_tok_s"] - expected) <= 0.01 * expected + 0.1


def test_a_synthetic_qwen35_store_is_the_size_the_estimates_say(monkeypatch):
    """The weights file the streaming quantizer writes for a hybrid model (untied, two value
    heads per key head, as Qwen3.5-9B) is, to the byte, the size the catalog and the wizard
    count (``sizes.stored_bytes`` of the family's plan)."""
    from qwen_tui.bench import synthetic
    from qwen_tui.families import QWEN35
    from qwen_tui.manifest import verify
    from qwen_tui.recipes import RECIPES
    from qwen_tui.sizes import stored_bytes
    from qwen_tui.store.stream import WEIGHTS

    tiny = (128, 256, 4, 2, 1, 64, 2, 4, 32, 32, 1024, False)
    monkeypatch.setitem(synthetic.HYBRID, "tiny-q35-untied", tiny)
    for recipe in ("mixed_int5", "sym_int4"):
        model = synthetic.synthetic_model("tiny-q35-untied", recipe)
        weights = next(f for f in verify(model.path, deep=True).files if f.name == WEIGHTS)
        dims = QWEN35.dims(synthetic.synthetic_config("tiny-q35-untied"))
        assert not dims.tied and dims.linear_v_heads == 2 * dims.linear_k_heads
        assert weights.size == stored_bytes(QWEN35, dims, RECIPES[recipe]), recipe


def test_the_compute_ceiling_adds_each_formats_bytes_at_its_rate_over_the_threads(
    engine, monkeypatch
):
    """The arithmetic beside the measured rates (bench's JSON test measures them): a token's
    seconds are each format's bytes over its rate, shared by the threads."""
    from qwen_tui.bench import ceiling

    monkeypatch.setattr(ceiling, "in_cache_rate", lambda fmt: 4e9)
    held = ceiling.format_bytes(engine.model)
    assert list(held) == ["sym_int4"]
    assert held["sym_int4"] == engine.model.weight_bytes  # every packed weight but the embedding
    assert engine.model.embed is not engine.model.head  # (untied here: only its row is read)
    for threads in (1, 3):
        got = ceiling.compute_ceiling(engine.model, threads)
        assert got["formats"]["sym_int4"] == {"bytes": held["sym_int4"], "gb_s_per_thread": 4.0}
        assert got["ceiling_tok_s"] == round(threads * 4e9 / held["sym_int4"], 1)
