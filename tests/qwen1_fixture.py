"""Build a tiny *Qwen-1* (model_type "qwen", remote code) chat model folder at test time.

The folder is shaped like ``Qwen/Qwen-1_8B-Chat`` on the Hugging Face hub: the real
Qwen-1 remote-code files (vendored verbatim under ``tests/fixtures/qwen1_code/``, see
SOURCE.md there), a ``config.json`` / ``generation_config.json`` /
``tokenizer_config.json`` with the real keys, random float32 weights in
``model.safetensors`` and a ``qwen.tiktoken`` vocabulary made here in code.

Tiny dimensions: hidden 64, 2 layers, 4 heads of 16 (``kv_channels``), MLP
``intermediate_size`` 256 (Qwen-1's MLP uses ``intermediate_size // 2`` = 128 per
branch). ``vocab_size`` stays 151936 because QWenTokenizer hard-codes its special ids
from 151643 on (``<|endoftext|>`` 151643, ``<|im_start|>`` 151644, ``<|im_end|>``
151645, ``<|extra_0..204|>`` 151646..151850).

About ``qwen.tiktoken``: QWenTokenizer asserts
``len(mergeable_ranks) + len(special_tokens) == tiktoken.Encoding.n_vocab`` and tiktoken's
``n_vocab`` is ``max token id + 1``, so the mergeable ranks must fill 0..151642 without a
gap. The file therefore holds 256 single bytes (ranks 0..255), a few hundred BPE merges
learnt here from a small English/Chinese/code corpus, and then unreachable filler tokens
``b"\\xff\\xfe" + 3-byte index`` up to rank 151642. ``\\xff``/``\\xfe`` never occur in UTF-8
text and no real token starts with ``\\xfe``, so BPE can never build a filler: they only
pad the id space, like the real vocabulary's size.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections import Counter
from pathlib import Path

CODE_DIR = Path(__file__).parent / "fixtures" / "qwen1_code"
CODE_FILES = (
    "configuration_qwen.py",
    "modeling_qwen.py",
    "tokenization_qwen.py",
    "qwen_generation_utils.py",
    "cpp_kernels.py",
)

# From tokenization_qwen.py (checked by the tests against the vendored file).
SPECIAL_START_ID = 151643
ENDOFTEXT_ID = 151643
IM_START_ID = 151644
IM_END_ID = 151645
N_SPECIAL = 3 + 205
# Same regex as tokenization_qwen.PAT_STR, used to pre-split the training corpus.
PAT_STR = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

VOCAB_SIZE = 151936
NUM_MERGES = 320

# Small training corpus: chat roles, English, code, and Chinese where 你/好/我/是 are
# frequent (they become one token each) while rarer characters only get their first
# two UTF-8 bytes merged (so they split across two tokens) or stay as raw bytes.
# No emoji: they stay as 4 single-byte tokens.
CORPUS = [
    "system\nYou are a helpful assistant.",
    "user\nHello! How are you today?",
    "assistant\nI am fine, thank you. How can I help you today?",
    "The quick brown fox jumps over the lazy dog.",
    "Please answer the question in one short sentence.",
    "The model is quantized to int4 and runs on the CPU.",
    "Tokens are streamed one by one while the answer is generated.",
    "Hello, world! Hello world. hello there, the world is wide.",
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n    print(i)\n",
    "```python\nprint('hello world')\n```",
    "你好" * 6,
    "你好，我是一个有用的助手。你好！我是助手。",
    "你好吗？我很好。你好，世界。",
    "我是学生，你是老师。你好，老师！",
    "今天天气很好，我们去公园散步吧。",
]
CORPUS_REPEATS = 3


def _pieces(text: str) -> list[bytes]:
    import regex

    return [m.encode("utf-8") for m in regex.findall(PAT_STR, text)]


def learn_merges(corpus=CORPUS, num_merges: int = NUM_MERGES, repeats: int = CORPUS_REPEATS):
    """Plain byte-level BPE training (tiktoken style). Returns merged tokens in rank order."""
    words = Counter()
    for text in corpus:
        for piece in _pieces(text):
            words[piece] += repeats
    # Each word as a list of current parts (bytes).
    state = {w: [bytes([b]) for b in w] for w in words}
    merges: list[bytes] = []
    known = {bytes([b]) for b in range(256)}
    for _ in range(num_merges):
        pairs = Counter()
        for w, parts in state.items():
            for a, b in zip(parts, parts[1:], strict=False):
                pairs[(a, b)] += words[w]
        if not pairs:
            break
        # Deterministic: highest count, then smallest merged bytes.
        (a, b), count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0][0] + kv[0][1]))
        if count < 2:
            break
        token = a + b
        if token not in known:
            merges.append(token)
            known.add(token)
        for w, parts in state.items():
            i, out = 0, []
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(token)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            state[w] = out
    return merges


def mergeable_ranks(merges=None) -> dict[bytes, int]:
    """All 256 bytes, then the merges, then filler tokens up to rank SPECIAL_START_ID - 1."""
    if merges is None:
        merges = learn_merges()
    ranks = {bytes([b]): b for b in range(256)}
    for token in merges:
        ranks[token] = len(ranks)
    n_real = len(ranks)
    for i in range(SPECIAL_START_ID - n_real):
        ranks[b"\xff\xfe" + i.to_bytes(3, "big")] = n_real + i
    assert len(ranks) == SPECIAL_START_ID
    return ranks


def write_tiktoken(path: Path, ranks: dict[bytes, int]) -> Path:
    lines = [f"{base64.b64encode(tok).decode('ascii')} {rank}" for tok, rank in ranks.items()]
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")
    return Path(path)


def tiny_qwen1_config(**overrides) -> dict:
    """config.json with the keys and order of Qwen/Qwen-1_8B-Chat, tiny dimensions."""
    config = {
        "architectures": ["QWenLMHeadModel"],
        "auto_map": {
            "AutoConfig": "configuration_qwen.QWenConfig",
            "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel",
        },
        "attn_dropout_prob": 0.0,
        "bf16": False,
        "emb_dropout_prob": 0.0,
        "fp16": False,
        "fp32": False,
        "hidden_size": 64,
        "intermediate_size": 256,
        "initializer_range": 0.02,
        "kv_channels": 16,
        "layer_norm_epsilon": 1e-06,
        "max_position_embeddings": 8192,
        "model_type": "qwen",
        "no_bias": True,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "onnx_safe": None,
        "rotary_emb_base": 10000,
        "rotary_pct": 1.0,
        "scale_attn_weights": True,
        "seq_length": 8192,
        "softmax_in_fp32": False,
        "tie_word_embeddings": False,
        "tokenizer_class": "QWenTokenizer",
        "torch_dtype": "float32",
        "transformers_version": "4.37.2",
        "use_cache": True,
        "use_cache_kernel": False,
        "use_cache_quantization": False,
        "use_dynamic_ntk": True,
        "use_flash_attn": "auto",
        "use_logn_attn": True,
        "vocab_size": VOCAB_SIZE,
    }
    config.update(overrides)
    return config


GENERATION_CONFIG = {
    "chat_format": "chatml",
    "do_sample": True,
    "eos_token_id": ENDOFTEXT_ID,
    "max_new_tokens": 512,
    "max_window_size": 6144,
    "pad_token_id": ENDOFTEXT_ID,
    "repetition_penalty": 1.1,
    "top_k": 0,
    "top_p": 0.8,
    "transformers_version": "4.37.2",
}

TOKENIZER_CONFIG = {
    "model_max_length": 8192,
    "tokenizer_class": "QWenTokenizer",
    "auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]},
}


def random_state_dict(config: dict, seed: int = 0, n_real_tokens: int | None = None):
    """Weights named as QWenLMHeadModel's state_dict; N(0, 0.5) matrices, norms ~1.

    With ``n_real_tokens`` the ``lm_head`` rows of every id that is not a real token
    (the tiktoken fillers, ``<|extra_*|>`` and the unused ids past 151850) are zero, so
    the random model emits bytes, merges, ``<|endoftext|>``, ``<|im_start|>`` or
    ``<|im_end|>`` instead of filler ids that decode to U+FFFD.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)

    def normal(*shape, std=0.5, mean=0.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float32) * std + mean

    h = config["hidden_size"]
    v = config["vocab_size"]
    proj = config["kv_channels"] * config["num_attention_heads"]
    ff = config["intermediate_size"] // 2
    sd = {"transformer.wte.weight": normal(v, h)}
    for i in range(config["num_hidden_layers"]):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"] = normal(h, std=0.1, mean=1.0)
        sd[p + "attn.c_attn.weight"] = normal(3 * proj, h)
        sd[p + "attn.c_attn.bias"] = normal(3 * proj, std=0.1)
        # QWenAttention: nn.Linear(hidden_size, projection_size) (weight [proj, hidden]).
        sd[p + "attn.c_proj.weight"] = normal(proj, h)
        sd[p + "ln_2.weight"] = normal(h, std=0.1, mean=1.0)
        sd[p + "mlp.w1.weight"] = normal(ff, h)
        sd[p + "mlp.w2.weight"] = normal(ff, h)
        sd[p + "mlp.c_proj.weight"] = normal(h, ff)
    sd["transformer.ln_f.weight"] = normal(h, std=0.1, mean=1.0)
    lm_head = normal(v, h)
    if n_real_tokens is not None:
        lm_head[n_real_tokens:SPECIAL_START_ID] = 0.0
        lm_head[IM_END_ID + 1 :] = 0.0
    sd["lm_head.weight"] = lm_head
    return sd


def build_tiny_qwen1(path: Path, seed: int = 0, **config_overrides) -> Path:
    """Write a complete Qwen-1 chat model folder at ``path`` and return it."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name in CODE_FILES + ("LICENSE", "NOTICE"):
        shutil.copy2(CODE_DIR / name, path / name)
    config = tiny_qwen1_config(**config_overrides)
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (path / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2) + "\n")
    (path / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
    merges = learn_merges()
    write_tiktoken(path / "qwen.tiktoken", mergeable_ranks(merges))
    state = random_state_dict(config, seed, n_real_tokens=256 + len(merges))
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "README.md").write_text(
        "Tiny random Qwen-1 (model_type qwen) chat model for tests. The *.py files are the\n"
        "Qwen-1 remote code (Tongyi Qianwen), see tests/fixtures/qwen1_code/SOURCE.md.\n"
    )
    return path


# Files a quantized (save_low_bit) folder needs beside the weights to load with remote code.
SIDECAR_FILES = CODE_FILES + ("qwen.tiktoken", "tokenizer_config.json", "generation_config.json")


def copy_sidecars(src: Path, dest: Path) -> None:
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in SIDECAR_FILES:
        shutil.copy2(src / name, dest / name)
