"""The catalog: every entry pinned, sizes from the real architectures, Qwen3's dimensions read
the way its family reads a config.json, and the wizard's first offer for a machine's RAM.
(What the RAM estimates are worth is measured in test_honest_numbers.py.)"""

import re

import pytest

from qwen_tui.catalog import CATALOG, DEFAULT_MODEL, GB, LOW_BIT_FORMATS, find_entry, wizard_entries
from qwen_tui.families import QWEN3
from qwen_tui.recipes import RECIPES
from qwen_tui.sizes import MB, loading_ram

# config.json of the pinned Qwen3 commits (the values catalog_sources.md cites)
QWEN3_CONFIGS = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28),
    "qwen3-1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28),
    "qwen3-4b": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                     num_attention_heads=32),
}  # fmt: skip


def test_every_entry_is_pinned_to_a_commit_and_says_what_it_is_good_for():
    assert len({e.key for e in CATALOG}) == len(CATALOG)
    for entry in CATALOG:
        assert re.fullmatch(r"[0-9a-f]{40}", entry.revision), entry.key
        assert entry.licence and 0 < len(entry.good_for) <= 60, entry.key
        assert entry.family in ("qwen", "qwen2", "qwen3", "qwen35")
        assert len(entry.licence_short) <= 14
    assert DEFAULT_MODEL.repo_id == "Qwen/Qwen-1_8B-Chat"  # the original recipe stays
    assert {e.family for e in CATALOG if e.repo_id.startswith("Qwen/Qwen3-")} == {"qwen3"}
    assert {e.family for e in CATALOG if "Qwen3.5-" in e.repo_id} == {"qwen35"}


@pytest.mark.parametrize("key", sorted(QWEN3_CONFIGS))
def test_qwen3_dimensions_are_what_sizes_reads_from_its_config(key):
    config = {
        "model_type": "qwen3",
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,  # not hidden / heads: the q width differs from the hidden size
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        **QWEN3_CONFIGS[key],
    }
    dims = QWEN3.dims(config)
    assert dims == find_entry(key).dims
    shapes = {t.name: t.shape for t in QWEN3.plan(dims, RECIPES["sym_int4"])}
    q = config["num_attention_heads"] * 128
    assert shapes["model.layers.0.self_attn.q_proj.weight"] == (q, dims.hidden)
    assert shapes["model.layers.0.self_attn.o_proj.weight"] == (dims.hidden, q)
    assert shapes["model.layers.0.self_attn.k_proj.weight"] == (8 * 128, dims.hidden)
    assert shapes["model.layers.0.self_attn.q_norm.weight"] == (128,)
    assert "model.embed_tokens.weight" not in shapes  # tied: the head's bytes are shared


def test_computed_download_sizes_are_the_bf16_tensors_transformers_builds():
    from accelerate import init_empty_weights
    from transformers import Qwen2Config, Qwen2ForCausalLM

    for key, tied in (("qwen1.5-1.8b-chat", False), ("qwen2-1.5b-instruct", True)):
        entry = find_entry(key)
        d = entry.dims
        config = Qwen2Config(
            hidden_size=d.hidden, intermediate_size=d.inter, num_hidden_layers=d.layers,
            num_attention_heads=d.heads, num_key_value_heads=d.kv_heads,
            vocab_size=d.vocab, tie_word_embeddings=tied,
        )  # fmt: skip
        with init_empty_weights():
            model = Qwen2ForCausalLM(config)
        model.tie_weights()
        assert not entry.download_measured
        assert entry.download_bytes == 2 * sum(p.numel() for p in model.parameters()), key


def test_a_computed_size_is_its_measured_twin_less_the_file_headers():
    for computed, measured in (
        ("qwen2-1.5b-instruct", "qwen2.5-1.5b-instruct"),
        ("qwen3-4b-thinking-2507", "qwen3-4b"),
    ):
        a, b = find_entry(computed), find_entry(measured)
        assert a.dims == b.dims and b.download_measured
        assert 0 < b.download_bytes - a.download_bytes < 64 * 1024  # safetensors JSON headers


def test_no_estimate_counts_a_float32_model_any_more():
    """Quantizing streams the source and the check computes the float model a weight at a
    time: every entry's RAM to quantize is below its float32 model (it was that plus 800 MB);
    loading holds the stored bytes once (the issue's target: at most 1.1 x stored + 300 MB; it
    held them twice beside torch's runtime)."""
    for entry in CATALOG:
        for fmt in LOW_BIT_FORMATS:
            stored = entry.stored_bytes(fmt)
            assert stored < entry.ram_to_quantize(fmt) < 4 * entry.params, entry.key
            assert stored < entry.ram_to_chat(fmt) < stored + GB, entry.key
            loading = loading_ram(entry.dims, stored)
            assert stored < loading <= 1.1 * stored + 300 * MB, entry.key
        assert entry.ram_to_chat("sym_int4") < entry.ram_to_chat("sym_int8")


def needs(entry) -> int:
    """What the wizard checks before it starts: RAM to chat and to set up (quantize)."""
    return max(entry.ram_to_chat(), entry.ram_to_quantize())


def test_the_wizard_offers_the_largest_qwen35_the_machine_can_run_and_set_up():
    plenty = wizard_entries(16 * GB)
    assert plenty[0].key == "qwen3.5-9b"
    assert [e.key for e in plenty[1:3]] == ["qwen-1_8b-chat", "qwen1.5-1.8b-chat"]  # catalog order
    assert not any(e.gguf_file for e in plenty) and len(plenty) == 14
    sizes = ["qwen3.5-0.8b", "qwen3.5-2b", "qwen3.5-4b", "qwen3.5-9b"]
    for smaller, larger in zip(sizes[:-1], sizes[1:], strict=True):
        bigger = find_entry(larger)
        assert needs(find_entry(smaller)) < needs(bigger)
        assert wizard_entries(needs(bigger))[0].key == larger
        assert wizard_entries(needs(bigger) - 1)[0].key == smaller


def test_the_set_up_ram_counts_as_well_as_the_chat_ram():
    """Qwen3.5-0.8B chats in less than it takes to quantize (the quality check's logits over a
    248,320-token vocabulary): where only chatting fits, it is not offered first."""
    small = find_entry("qwen3.5-0.8b")
    assert small.ram_to_chat() < small.ram_to_quantize()
    assert wizard_entries(small.ram_to_quantize())[0].key == "qwen3.5-0.8b"
    assert wizard_entries(small.ram_to_quantize() - 1)[0].key != "qwen3.5-0.8b"


def test_without_room_for_any_qwen35_the_biggest_that_fits_is_first():
    smallest = min(needs(e) for e in CATALOG if e.family == "qwen35")
    fits = [e for e in wizard_entries(16 * GB) if needs(e) < smallest]
    assert {e.key for e in fits} == {"qwen2.5-0.5b-instruct", "qwen3-0.6b"}
    assert wizard_entries(smallest - 1)[0].key == "qwen3-0.6b"
    nothing = wizard_entries(100 * MB)
    assert nothing[0].key == "qwen2.5-0.5b-instruct"  # nothing fits: the smallest
    assert "qwen3.5-9b" in [e.key for e in nothing]


def test_keys_win_over_repo_ids_and_gguf_repos_have_their_own_entries():
    assert find_entry("Qwen/Qwen3-1.7B").key == "qwen3-1.7b"
    gguf = find_entry("qwen/qwen3-1.7b-gguf")
    assert gguf.key == "qwen3-1.7b-q8_0" and gguf.gguf_file == "Qwen3-1.7B-Q8_0.gguf"
    twin = find_entry("qwen3-1.7b")
    assert gguf.dims == twin.dims
    # a GGUF file is read a tensor at a time as a folder is: nothing unpacked to float32
    assert gguf.ram_to_quantize() == twin.ram_to_quantize()
