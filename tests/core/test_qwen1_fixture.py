"""The tiny Qwen-1 fixture drives the real Qwen-1 remote code through transformers and bigdl-llm.

Qwen-1 (``model_type`` "qwen", ``QWenLMHeadModel`` + ``QWenTokenizer``, trust_remote_code)
is the architecture of the original ``Qwen/Qwen-1_8B-Chat``. These tests pin what the
fixture builds and how the real remote code behaves under transformers 4.37.2 and
bigdl-llm 2.5.0 on the CPU: tokenizer quirks, the low-bit save/load round trip, the
forwards bigdl swaps in, and the KV-cache layout the engine sees.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import qwen1_fixture as q1
import torch

SYSTEM = "You are a helpful assistant."
PROMPT = (
    f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
    "<|im_start|>user\n你好<|im_end|>\n"
    "<|im_start|>assistant\n"
)
SPECIAL_IDS = {q1.ENDOFTEXT_ID, q1.IM_START_ID, q1.IM_END_ID}

# The vendored files must stay byte-identical to upstream (see SOURCE.md).
VENDORED_SHA256 = {
    "configuration_qwen.py": "74626181ddd5c9c40accdbb93fc45007cb2278179a32504f32bd82ffb4336e2c",
    "cpp_kernels.py": "ff4979357ad9bb939336827a4fc7f2934d6a49c8193010b402729c30478b9465",
    "modeling_qwen.py": "7482892d33418bdd543d1ce61e5c8b5b1bd49bd85ff26be185fb3521b73daac7",
    "qwen_generation_utils.py": "f223e0f1bb987fdb93b7cf80e046d96e9e910650103ef2f136eb04887324de34",
    "tokenization_qwen.py": "c9bbb7710bacfaa323d48b8414643d8d7893d174f85f65e83fbc363de271b69a",
}


def _load_file_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_real_id(token_id: int, n_real: int) -> bool:
    return token_id < n_real or token_id in SPECIAL_IDS


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return q1.build_tiny_qwen1(tmp_path_factory.mktemp("qwen1") / "tiny-qwen1", seed=0)


@pytest.fixture(scope="module")
def n_real(folder) -> int:
    """Number of ids that are bytes or learnt merges (the rest below 151643 are fillers)."""
    return 256 + len(q1.learn_merges())


@pytest.fixture(scope="module")
def tok(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)


@pytest.fixture(scope="module")
def prompt_ids(tok) -> torch.Tensor:
    return torch.tensor([tok.encode(PROMPT)])


# --- the vendored code and the folder ---------------------------------------------------


def test_vendored_files_are_unmodified():
    for name, digest in VENDORED_SHA256.items():
        data = (q1.CODE_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    for name in ("SOURCE.md", "LICENSE", "NOTICE"):
        assert (q1.CODE_DIR / name).is_file()


def test_fixture_constants_match_the_real_tokenizer_code():
    mod = _load_file_module(q1.CODE_DIR / "tokenization_qwen.py", "_vendored_tokenization_qwen")
    assert mod.SPECIAL_START_ID == q1.SPECIAL_START_ID == 151643
    assert mod.PAT_STR == q1.PAT_STR
    ids = dict((tok, i) for i, tok in mod.SPECIAL_TOKENS)
    assert ids["<|endoftext|>"] == q1.ENDOFTEXT_ID
    assert ids["<|im_start|>"] == q1.IM_START_ID
    assert ids["<|im_end|>"] == q1.IM_END_ID
    assert len(mod.SPECIAL_TOKENS) == q1.N_SPECIAL
    assert max(ids.values()) < q1.VOCAB_SIZE


def test_folder_is_shaped_like_qwen_1_8b_chat(folder, n_real):
    names = {p.name for p in folder.iterdir()}
    assert set(q1.CODE_FILES) <= names
    assert {
        "config.json",
        "generation_config.json",
        "tokenizer_config.json",
        "qwen.tiktoken",
        "model.safetensors",
    } <= names

    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen"
    assert config["architectures"] == ["QWenLMHeadModel"]
    assert config["auto_map"] == {
        "AutoConfig": "configuration_qwen.QWenConfig",
        "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel",
    }
    assert (config["bf16"], config["fp16"], config["fp32"]) == (False, False, False)
    assert config["use_flash_attn"] == "auto"
    assert config["tokenizer_class"] == "QWenTokenizer"
    assert config["kv_channels"] * config["num_attention_heads"] == config["hidden_size"] == 64
    assert (config["num_hidden_layers"], config["intermediate_size"]) == (2, 256)
    assert config["vocab_size"] == 151936
    assert config["seq_length"] == config["max_position_embeddings"] == 8192
    assert config["use_dynamic_ntk"] and config["use_logn_attn"] and config["no_bias"]

    gen = json.loads((folder / "generation_config.json").read_text())
    assert gen["chat_format"] == "chatml"
    assert gen["eos_token_id"] == gen["pad_token_id"] == 151643
    assert gen["max_window_size"] == 6144

    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_config["auto_map"]["AutoTokenizer"][0] == "tokenization_qwen.QWenTokenizer"

    lines = (folder / "qwen.tiktoken").read_text().splitlines()
    # QWenTokenizer asserts len(ranks) + len(specials) == n_vocab: ranks fill 0..151642.
    assert len(lines) == q1.SPECIAL_START_ID
    assert [int(line.split()[1]) for line in lines] == list(range(q1.SPECIAL_START_ID))
    assert 256 + 200 <= n_real <= 256 + q1.NUM_MERGES


def test_weights_load_without_missing_keys(folder):
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(
        str(folder), trust_remote_code=True, output_loading_info=True
    )
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert info["mismatched_keys"] == []


# --- QWenTokenizer -------------------------------------------------------------------------


def test_tokenizer_loads_with_qwen_ids(tok):
    assert type(tok).__name__ == "QWenTokenizer"
    assert type(tok).__module__.startswith("transformers_modules.")
    assert (tok.eod_id, tok.im_start_id, tok.im_end_id) == (151643, 151644, 151645)
    assert len(tok) == 151851  # tiktoken n_vocab: 151643 ranks + 208 specials
    # Qwen-1 sets no eos/pad/bos token on the tokenizer: callers use eod_id / im_end_id.
    assert tok.eos_token is None and tok.pad_token is None and tok.bos_token is None


def test_tokenizer_round_trips_mixed_text(tok, n_real):
    text = "你好, world 😀"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(i < n_real for i in ids)
    # 你 and 好 are single tokens; the emoji stays as its 4 UTF-8 bytes.
    assert len(tok.encode("你")) == 1 and len(tok.encode("好")) == 1
    assert tok.encode("😀") == list("😀".encode())
    for sample in (
        "今天天气很好，我们去公园散步吧。",
        "def add(a, b):\n    return a + b\n",
        "Hello! 世界 🚀 中国",
    ):
        assert tok.decode(tok.encode(sample)) == sample


def test_a_chinese_character_can_split_across_tokens(tok):
    ids = tok.encode("中")  # e4 b8 | ad: only the first two bytes were merged
    assert len(ids) == 2
    assert tok.decode(ids[:1]) == "\ufffd"  # errors="replace" by default
    assert tok.decode(ids[:1], errors="ignore") == ""
    assert tok.decode(ids) == "中"


def test_special_token_text_handling(tok):
    # tokenize()/encode() default to allowed_special="all": markup in plain text becomes
    # real special tokens (prompt injection unless the caller passes allowed_special=set()).
    assert tok.encode("<|im_start|>") == [tok.im_start_id]
    plain = tok.encode("<|im_start|>", allowed_special=set())
    assert tok.im_start_id not in plain and tok.decode(plain) == "<|im_start|>"
    # Only with disallowed_special does tiktoken raise instead.
    with pytest.raises(ValueError, match="disallowed special token"):
        tok.encode("<|im_start|>", allowed_special=set(), disallowed_special="all")
    ids = tok.encode("<|im_start|>user\nhi<|im_end|>")
    assert tok.decode(ids, skip_special_tokens=True) == "user\nhi"  # drops ids >= eod_id


def test_remote_make_context_builds_the_chatml_prompt(folder, tok):
    gen_utils = _load_file_module(folder / "qwen_generation_utils.py", "_tiny_qwen1_gen_utils")
    raw, tokens = gen_utils.make_context(tok, "你好", history=[], system=SYSTEM)
    assert raw == PROMPT
    assert tokens == tok.encode(PROMPT)


# --- plain transformers --------------------------------------------------------------------


def test_plain_transformers_forward_and_generate(folder, prompt_ids, n_real):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=True).eval()
    # With bf16/fp16/fp32 all false the remote code picks fp32 on a CPU-only machine, and
    # use_flash_attn="auto" resolves to False (flash-attn is never imported).
    assert model.config.fp32 is True and model.config.use_flash_attn is False
    with torch.inference_mode():
        out = model(prompt_ids, use_cache=True)
        generated = model.generate(prompt_ids, max_new_tokens=6, do_sample=False)
    length = prompt_ids.shape[1]
    assert out.logits.shape == (1, length, 151936)
    assert out.past_key_values[0][0].shape == (1, length, 4, 16)  # (batch, seq, heads, dim)
    new = generated[0, length:].tolist()
    assert new and all(_is_real_id(i, n_real) for i in new)


# --- bigdl-llm -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bigdl(folder, tmp_path_factory):
    from bigdl.llm.transformers import AutoModelForCausalLM as BigdlAuto

    model = BigdlAuto.from_pretrained(
        str(folder),
        load_in_low_bit="sym_int4",
        trust_remote_code=True,
        torch_dtype=torch.float32,
    ).eval()
    out = tmp_path_factory.mktemp("qwen1-int4") / "tiny-qwen1-int4"
    model.save_low_bit(str(out))
    saved = {p.name for p in out.iterdir()}
    q1.copy_sidecars(folder, out)
    reloaded = BigdlAuto.load_low_bit(str(out), trust_remote_code=True).eval()
    return SimpleNamespace(model=model, reloaded=reloaded, out=out, saved=saved)


def test_bigdl_swaps_in_its_qwen_forwards(bigdl):
    from bigdl.llm.transformers.low_bit_linear import LowBitLinear

    for model in (bigdl.model, bigdl.reloaded):
        body = model.transformer
        block = body.h[0]

        def patched(bound):
            return (bound.__func__.__module__, bound.__func__.__name__)

        assert patched(body.forward) == ("bigdl.llm.transformers.models.qwen", "qwen_model_forward")
        assert patched(block.attn.forward) == (
            "bigdl.llm.transformers.models.qwen",
            "qwen_attention_forward",
        )
        assert patched(block.mlp.forward) == (
            "bigdl.llm.transformers.models.qwen",
            "qwen_mlp_forward",
        )
        assert patched(block.ln_1.forward) == (
            "bigdl.llm.transformers.models.chatglm2",
            "chatglm_rms_norm_forward",
        )
        # c_attn is split into q/k/v projections; every Linear (lm_head too) is int4.
        assert not hasattr(block.attn, "c_attn")
        for linear in (
            block.attn.q_proj,
            block.attn.k_proj,
            block.attn.v_proj,
            block.attn.c_proj,
            block.mlp.w1,
            block.mlp.c_proj,
            model.lm_head,
        ):
            assert isinstance(linear, LowBitLinear)
        # Patched per instance: the remote-code class keeps its own forward.
        assert type(block.attn).forward.__module__.endswith("modeling_qwen")


def test_save_low_bit_folder(bigdl):
    # save_low_bit copies the remote code it imports (custom_object_save follows relative
    # imports, so cpp_kernels.py too) and generation_config.json, not the tokenizer files.
    assert {
        "config.json",
        "generation_config.json",
        "modeling_qwen.py",
        "configuration_qwen.py",
        "qwen_generation_utils.py",
        "cpp_kernels.py",
    } <= bigdl.saved
    assert not {"tokenization_qwen.py", "qwen.tiktoken", "tokenizer_config.json"} & bigdl.saved
    config = json.loads((bigdl.out / "config.json").read_text())
    assert config["bigdl_transformers_low_bit"] == "sym_int4"
    # QWenLMHeadModel.__init__ rewrote the precision flags it resolved on this CPU.
    assert config["fp32"] is True and config["use_flash_attn"] is False
    gen = json.loads((bigdl.out / "generation_config.json").read_text())
    assert gen["chat_format"] == "chatml" and gen["max_window_size"] == 6144


def test_tokenizer_loads_from_the_low_bit_folder(bigdl, tok):
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(str(bigdl.out), trust_remote_code=True)
    assert again.encode(PROMPT) == tok.encode(PROMPT)


def test_load_low_bit_matches_the_quantized_model(bigdl, prompt_ids):
    with torch.inference_mode():
        a = bigdl.model(prompt_ids).logits
        b = bigdl.reloaded(prompt_ids).logits
    assert torch.equal(a, b)


def test_bigdl_greedy_generate(bigdl, tok, prompt_ids, n_real):
    with torch.inference_mode():
        first = bigdl.reloaded.generate(prompt_ids, max_new_tokens=8, do_sample=False)
        second = bigdl.reloaded.generate(prompt_ids, max_new_tokens=8, do_sample=False)
    assert torch.equal(first, second)
    new = first[0, prompt_ids.shape[1] :].tolist()
    assert len(new) >= 1 and all(_is_real_id(i, n_real) for i in new)
    assert isinstance(tok.decode(new), str)


def test_engine_style_body_calls_and_kv_cache_layout(bigdl, prompt_ids):
    model = bigdl.reloaded
    length = prompt_ids.shape[1]
    with torch.inference_mode():
        out = model.transformer(
            input_ids=prompt_ids, past_key_values=None, use_cache=True, return_dict=True
        )
        logits = model.lm_head(out.last_hidden_state[:, -1:, :])
        full = model(prompt_ids).logits[:, -1]

        past = out.past_key_values
        assert len(past) == 2 and len(past[0]) == 2
        # Qwen-1 keeps (batch, seq, heads, head_dim): the sequence is dim 1, unlike Qwen2's
        # (batch, heads, seq, head_dim). bigdl returns a view of a larger preallocated buffer.
        assert past[0][0].shape == (1, length, 4, 16)
        assert past[0][1].shape == (1, length, 4, 16)
        assert logits.shape == (1, 1, 151936)
        assert torch.allclose(logits[:, -1], full, atol=1e-5)

        next_id = logits[:, -1].argmax(-1, keepdim=True)
        out2 = model.transformer(
            input_ids=next_id, past_key_values=past, use_cache=True, return_dict=True
        )
        logits2 = model.lm_head(out2.last_hidden_state[:, -1:, :])
        full2 = model(torch.cat([prompt_ids, next_id], dim=1)).logits[:, -1]
    assert out2.past_key_values[0][0].shape == (1, length + 1, 4, 16)
    assert torch.allclose(logits2[:, -1], full2, atol=1e-4)


def test_bigdl_model_chat_uses_the_remote_chat_helpers(bigdl, tok):
    response, history = bigdl.reloaded.chat(
        tok, "你好", history=None, max_new_tokens=4, do_sample=False
    )
    assert isinstance(response, str)
    assert history == [("你好", response)]


def test_bigdl_needs_flash_attn_off_on_cpu(tmp_path, prompt_ids):
    """A config saved with bf16 + use_flash_attn (as fine-tunes often are) breaks bigdl's
    qwen attention on the CPU; passing use_flash_attn=False to from_pretrained fixes it."""
    from bigdl.llm.transformers import AutoModelForCausalLM as BigdlAuto

    folder = q1.build_tiny_qwen1(tmp_path / "tiny-qwen1-bf16", bf16=True, use_flash_attn=True)
    broken = BigdlAuto.from_pretrained(
        str(folder), load_in_low_bit="sym_int4", trust_remote_code=True, torch_dtype=torch.float32
    )
    with torch.inference_mode(), pytest.raises(RuntimeError, match="flash attn"):
        broken(prompt_ids)
    fixed = BigdlAuto.from_pretrained(
        str(folder),
        load_in_low_bit="sym_int4",
        trust_remote_code=True,
        torch_dtype=torch.float32,
        use_flash_attn=False,
    )
    with torch.inference_mode():
        logits = fixed(prompt_ids).logits
    assert fixed.config.use_flash_attn is False
    assert logits.shape == (1, prompt_ids.shape[1], 151936)
