"""The catalog's Qwen3.5 entries: their dimensions read from config.json as the released
checkpoints write it, their download sizes against the checkpoints' tensors, what their RAM
estimates count, and `bench --synthetic` at the same dimensions (catalog_sources.md says where
every value was read)."""

import math

import pytest

from qwen_tui.bench import synthetic
from qwen_tui.catalog import CATALOG, find_entry
from qwen_tui.families import BY_NAME, QWEN35
from qwen_tui.families.spec import FULL, LINEAR
from qwen_tui.recipes import RECIPES
from qwen_tui.sizes import CHAT_CONTEXT, kv_bytes_per_token, recurrent_bytes

# text_config of each pinned commit: hidden, layers, MLP, heads, kv heads, DeltaNet value heads;
# the top-level tie_word_embeddings
TEXT = {
    "qwen3.5-0.8b": (1024, 24, 3584, 8, 2, 16, True),
    "qwen3.5-2b": (2048, 24, 6144, 8, 2, 16, True),
    "qwen3.5-4b": (2560, 32, 9216, 16, 4, 32, True),
    "qwen3.5-9b": (4096, 32, 12288, 16, 4, 32, False),
}
# vision_config: depth, hidden, MLP, out_hidden_size (the language model's hidden size). 4B's
# and 9B's make their index files' total_size to the byte, 0.8B's and 2B's their measured files
# less a safetensors header of about 120 bytes a tensor (catalog_sources.md)
VISION = {
    "qwen3.5-0.8b": (12, 768, 3072, 1024),
    "qwen3.5-2b": (24, 1024, 4096, 2048),
    "qwen3.5-4b": (24, 1024, 4096, 2560),
    "qwen3.5-9b": (27, 1152, 4304, 4096),
}


def published_config(key: str) -> dict:
    hidden, layers, inter, heads, kv_heads, v_heads, tied = TEXT[key]
    kinds = ["linear_attention"] * 3 + ["full_attention"]
    text = {
        "model_type": "qwen3_5_text", "hidden_size": hidden, "num_hidden_layers": layers,
        "intermediate_size": inter, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "head_dim": 256, "layer_types": kinds * (layers // 4), "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": v_heads,
        "linear_value_head_dim": 128, "max_position_embeddings": 262144, "vocab_size": 248320,
        "rms_norm_eps": 1e-6, "attn_output_gate": True, "tie_word_embeddings": tied,
        "rope_parameters": {"mrope_interleaved": True, "mrope_section": [11, 11, 10],
                            "partial_rotary_factor": 0.25, "rope_theta": 10000000,
                            "rope_type": "default"},
    }  # fmt: skip
    return {
        "architectures": ["Qwen3_5ForConditionalGeneration"],
        "model_type": "qwen3_5",
        "text_config": text,
        "tie_word_embeddings": tied,
    }


@pytest.mark.parametrize("key", sorted(TEXT))
def test_dimensions_are_what_the_family_reads_from_the_published_config(key):
    entry = find_entry(key)
    dims = QWEN35.dims(published_config(key))
    assert QWEN35.refuse(published_config(key)) is None
    assert entry.family == "qwen35" and entry.dims == dims
    assert dims.lm_prefix == "model.language_model."  # the checkpoint's names, not a text-only save
    assert dims.layer_types.count(FULL) == dims.layers // 4
    assert (dims.rope_base, dims.rotary_dim, dims.positions) == (1e7, 64, 262144)
    heads = {t.name for t in QWEN35.plan(dims, RECIPES["mixed_int5"]) if t.role == "output"}
    assert heads == {"lm_head.weight"}  # tied: the embedding table is the head, stored once
    assert dims.tied == (key != "qwen3.5-9b")


def checkpoint_bytes(key: str) -> int:
    """The released checkpoint's tensors in bytes: the language model (bfloat16; ``A_log`` and
    the DeltaNet output norm float32), its multi-token-prediction layer (a projection of the
    embedding and hidden state, three norms and one full-attention layer) and the vision tower
    (a Qwen3-VL tower without deepstack mergers), as transformers 5 names and shapes them."""
    entry = find_entry(key)
    d = entry.dims
    plan = QWEN35.plan(d, RECIPES["mixed_int5"])  # every language-model tensor, a tied head once
    language = sum(math.prod(t.shape) for t in plan)
    float32 = sum(math.prod(t.shape) for t in plan if t.role in ("ssm_a", "ssm_norm"))
    full_layer = sum(math.prod(t.shape) for t in plan if t.layer == 3)
    mtp = 2 * d.hidden * d.hidden + 3 * d.hidden + full_layer
    depth, width, mlp, out = VISION[key]
    block = 3 * width * width + 3 * width + width * width + width + 2 * mlp * width + mlp + width
    block += 4 * width  # two LayerNorms
    patches = width * 3 * 2 * 16 * 16 + width + 2304 * width  # patch_embed, pos_embed
    merger = 2 * width + 16 * width * width + 4 * width + out * 4 * width + out
    vision = patches + depth * block + merger
    return 2 * (language + mtp + vision) + 2 * float32


@pytest.mark.parametrize("key", sorted(TEXT))
def test_downloads_are_the_checkpoints_tensors(key):
    entry = find_entry(key)
    computed = checkpoint_bytes(key)
    if entry.download_measured:  # the real file: its tensors and its JSON header
        assert 0 < entry.download_bytes - computed < 128 * 1024, entry.download_bytes - computed
    else:  # the index files' total_size, the tensors alone
        assert entry.download_bytes == computed


@pytest.mark.parametrize("key", sorted(TEXT))
def test_chat_ram_counts_full_attention_kv_and_the_recurrent_states(key):
    """Only every 4th layer keeps keys and values; the DeltaNet layers keep a fixed state."""
    entry = find_entry(key)
    d = entry.dims
    assert kv_bytes_per_token(d) == 2 * (d.layers // 4) * d.kv_dim * 2
    assert recurrent_bytes(d) > 0  # what a conversation keeps whatever its length
    stored = entry.stored_bytes()
    assert entry.ram_to_chat() - stored > kv_bytes_per_token(d) * CHAT_CONTEXT + recurrent_bytes(d)


def test_the_gguf_entry_is_its_folder_twin_in_a_smaller_download():
    gguf, twin = find_entry("qwen3.5-0.8b-q8_0"), find_entry("qwen3.5-0.8b")
    assert gguf.gguf_file == "Qwen3.5-0.8B-Q8_0.gguf" and gguf.repo_id.endswith("-GGUF")
    assert gguf.dims == twin.dims and gguf.download_bytes < twin.download_bytes / 2
    assert gguf.ram_to_quantize() == twin.ram_to_quantize()


def shape(dims) -> tuple:
    fields = ("hidden", "layers", "heads", "kv_heads", "head_dim", "inter", "vocab", "tied")
    hybrid = ("layer_types", "linear_k_heads", "linear_v_heads", "linear_k_dim", "linear_v_dim")
    return tuple(getattr(dims, f) for f in fields + hybrid)


def test_bench_synthetic_builds_every_catalog_size_at_the_catalogs_dimensions():
    keys = [k for k in (*synthetic.DIMENSIONS, *synthetic.HYBRID) if find_entry(k)]
    assert {e.key for e in CATALOG if e.family == "qwen35" and not e.gguf_file} <= set(keys)
    for key in keys:
        entry, config = find_entry(key), synthetic.synthetic_config(key)
        family = BY_NAME[entry.family]
        if str(config["model_type"]) not in family.model_types:
            continue  # Qwen-1_8B-Chat is measured by Qwen1.5-1.8B's Qwen2 dimensions
        dims = family.dims(config)
        assert shape(dims) == shape(entry.dims), key
        if entry.family == "qwen35":
            assert LINEAR in dims.layer_types and dims.rope_base == entry.dims.rope_base
