"""A tiny Qwen3.5 chat model for tests, scripted to think and answer one fixed text.

Its folder is what transformers 5 saves for a text-only Qwen3.5 (``Qwen3_5ForCausalLM``,
``model_type`` "qwen3_5_text", ``rope_parameters``, ``dtype``) at the reference fixture's
dimensions (tests/fixtures/qwen35_reference: Gated DeltaNet layers around one gated
full-attention layer), written with numpy and safetensors: transformers 4.37 has no Qwen3.5.
Its tokenizer is trained in code with Qwen3.5's pre-tokenizer split, saved with its merges as
pairs (as transformers 5 writes them), and carries Qwen3.5's own chat template: thinking on by
default (the prompt ends in ``<think>\\n``), ``enable_thinking`` false gives the empty block
``<think>\\n\\n</think>\\n\\n``, past turns' thinking left out.

The script is taught as for the tiny Qwen3 (``script.py``): the embedding rows of the reply's
tokens are a random orthonormal basis and the (untied) head maps each onto the next token by
a wide margin. Every other weight is small and random, so each layer's contribution to the
residual stream is small (a Gated DeltaNet's output goes through its out_proj, an attention's
through o_proj, an MLP's through down_proj, all of std 0.02), and the taught chain wins through
every layer while each one still runs, quantized, in our decoder. After the prompt's
``<think>\\n`` the model writes ``THINKING\\n</think>\\n\\nANSWER<|im_end|>``; with thinking off the
prompt ends with the same ``\\n\\n`` token the script has after ``</think>``, so the model writes
only the answer, as a real Qwen3.5 does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .script import teach_chain_arrays
from .tiny import CORPUS, build_tokenizer
from .tiny_qwen3 import ANSWER, THINK_TOKENS, THINKING, save_thinking_defaults

__all__ = ["ANSWER", "QWEN35_CHAT_TEMPLATE", "SCRIPT", "THINKING", "build_tiny_qwen35"]

# llama.cpp's models/templates/Qwen3.5-4B.jinja (Qwen/Qwen3.5-4B's chat template, as
# llama-cpp-python 0.3.36 vendors it), verbatim: the one tests/fixtures/qwen35_gguf's files
# carry, which llama.cpp's converter copied from the folder it converted.
QWEN35_CHAT_TEMPLATE = (Path(__file__).parent / "qwen35_chat_template.jinja").read_text("utf-8")

SCRIPT = f"{THINKING}\n</think>\n\n{ANSWER}"  # after the prompt's <think>\n; then <|im_end|>
LAYER_TYPES = ["linear_attention", "linear_attention", "full_attention", "linear_attention"]


def qwen35_tokenizer() -> Any:
    """The tiny tokenizer, split as Qwen3.5's (its ``tokenizer.json``) and with its template."""
    from ..store.gguf_import.tokenizer import QWEN35_SPLIT

    # the text after </think> alone, as the template writes it: its \n\n becomes one token
    tokenizer = build_tokenizer(corpus=[*CORPUS, SCRIPT, "\n\n" + ANSWER], split=QWEN35_SPLIT)
    tokenizer.add_tokens(THINK_TOKENS)  # added, not special: as in Qwen3.5's tokenizer
    tokenizer.chat_template = QWEN35_CHAT_TEMPLATE
    return tokenizer


def tiny_qwen35_config(vocab_size: int, ids: dict[str, int]) -> dict[str, Any]:
    """config.json as transformers 5.25 writes a text-only Qwen3.5 (the reference's, untied)."""
    return {
        "architectures": ["Qwen3_5ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"],
        "dtype": "float32",
        "eos_token_id": ids["<|im_end|>"],
        "head_dim": 32,  # 4 x 32 = 128 != hidden: the explicit head width is used
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "layer_types": LAYER_TYPES,
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 16,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,  # each key head serves two value heads
        "linear_value_head_dim": 16,
        "max_position_embeddings": 4096,
        "model_type": "qwen3_5_text",
        "num_attention_heads": 4,
        "num_hidden_layers": len(LAYER_TYPES),
        "num_key_value_heads": 2,
        "pad_token_id": ids["<|endoftext|>"],
        "rms_norm_eps": 1e-06,
        "rope_parameters": {
            "mrope_interleaved": True,
            "mrope_section": [2, 1, 1],
            "partial_rotary_factor": 0.25,
            "rope_theta": 10000000.0,
            "rope_type": "default",
        },
        "tie_word_embeddings": False,  # the script needs a head of its own
        "transformers_version": "5.25.0",
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def random_weights(config: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint, small and random: matrices of std 0.02, zero-centred
    norms (x * (1 + w)) near zero, the Gated DeltaNet's own norm near one, its decay
    parameters as transformers initialises them (A uniform in (0, 16], dt_bias one)."""
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    head_dim, heads = config["head_dim"], config["num_attention_heads"]
    kv = config["num_key_value_heads"] * head_dim
    k_heads, v_heads = config["linear_num_key_heads"], config["linear_num_value_heads"]
    keys = k_heads * config["linear_key_head_dim"]
    values = v_heads * config["linear_value_head_dim"]
    conv = 2 * keys + values  # q, k (key heads) and v (value heads)
    kernel = config["linear_conv_kernel_dim"]

    def matrix(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def norm(width: int, centre: float = 0.0) -> np.ndarray:
        return (centre + rng.standard_normal(width) * 0.1).astype(np.float32)

    out = {"model.embed_tokens.weight": matrix(vocab, hidden),
           "lm_head.weight": matrix(vocab, hidden), "model.norm.weight": norm(hidden)}  # fmt: skip
    for i, kind in enumerate(config["layer_types"]):
        p = f"model.layers.{i}."
        out |= {p + "input_layernorm.weight": norm(hidden),
                p + "post_attention_layernorm.weight": norm(hidden),
                p + "mlp.gate_proj.weight": matrix(inter, hidden),
                p + "mlp.up_proj.weight": matrix(inter, hidden),
                p + "mlp.down_proj.weight": matrix(hidden, inter)}  # fmt: skip
        if kind == "full_attention":  # q_proj: each head's queries, then its output gate
            a = p + "self_attn."
            out |= {a + "q_proj.weight": matrix(2 * heads * head_dim, hidden),
                    a + "k_proj.weight": matrix(kv, hidden),
                    a + "v_proj.weight": matrix(kv, hidden),
                    a + "o_proj.weight": matrix(hidden, heads * head_dim),
                    a + "q_norm.weight": norm(head_dim),
                    a + "k_norm.weight": norm(head_dim)}  # fmt: skip
        else:
            a = p + "linear_attn."
            out |= {a + "in_proj_qkv.weight": matrix(conv, hidden),
                    a + "in_proj_z.weight": matrix(values, hidden),
                    a + "in_proj_b.weight": matrix(v_heads, hidden),
                    a + "in_proj_a.weight": matrix(v_heads, hidden),
                    a + "conv1d.weight": matrix(conv, 1, kernel),
                    a + "A_log": np.log(rng.uniform(1e-3, 16, v_heads)).astype(np.float32),
                    a + "dt_bias": np.ones(v_heads, np.float32),
                    a + "norm.weight": norm(config["linear_value_head_dim"], 1.0),
                    a + "out_proj.weight": matrix(hidden, values)}  # fmt: skip
    return out


def build_tiny_qwen35(path: Path, seed: int = 0) -> Path:
    """Write the Hugging Face folder of the scripted tiny Qwen3.5 (the same bytes for a seed,
    up to the rounding of the platform's QR)."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = qwen35_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")}
    config = tiny_qwen35_config(len(tokenizer), ids)
    rng = np.random.default_rng(seed)
    weights = random_weights(config, rng)
    chain = [*_script_chain(tokenizer), ids["<|im_end|>"]]
    teach_chain_arrays(weights["model.embed_tokens.weight"], weights["lm_head.weight"], chain, rng)
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(path)
    _merges_as_pairs(path / "tokenizer.json")
    save_thinking_defaults(path, ids, ids["<|endoftext|>"])
    (path / "README.md").write_text("tiny scripted qwen3.5\n")
    return path


def _script_chain(tokenizer: Any) -> list[int]:
    """The prompt's last token (the ``\\n`` after its ``<think>``), then the script's tokens;
    checked: thinking off, the prompt ends on the script's token before the answer."""
    from ..engine.tokenizer import compile_chat_template

    template = compile_chat_template(tokenizer.chat_template)  # as the chat path renders it

    def prompt(**variables: Any) -> list[int]:
        hi = [{"role": "user", "content": "hi"}]
        text = template.render(messages=hi, add_generation_prompt=True, **variables)
        return list(tokenizer.encode(text, add_special_tokens=False))

    on, off = prompt(), prompt(enable_thinking=False)
    assert tokenizer.decode(on[-2:]) == "<think>\n", tokenizer.decode(on)
    script = tokenizer.encode(SCRIPT, add_special_tokens=False)
    answer = tokenizer.encode(ANSWER, add_special_tokens=False)
    assert script[-len(answer) - 1] == off[-1] and script[-len(answer) :] == answer, script
    return [on[-1], *script]


def _merges_as_pairs(path: Path) -> None:
    """tokenizer.json's merges as ``["a", "b"]`` pairs, as transformers 5 (tokenizers 0.20
    and later) writes them; the pinned tokenizers 0.15 writes ``"a b"``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["merges"] = [merge.split(" ") for merge in data["model"]["merges"]]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
