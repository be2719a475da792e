"""Write small GGUF files for the import tests, with the `gguf` package, as llama.cpp's
convert_hf_to_gguf.py lays them out (names, innermost-first shapes, tokenizer metadata).

Independent of the importer under test: its own name table, and for the k-quants (which
`gguf` cannot quantize) blocks built here from random codes, with the values they stand for
computed by this file's own dequantizers (written from ggml's dequantize_row_q*_K).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants

NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf: str) -> str:
    if hf in NAMES:
        return NAMES[hf]
    parts = hf.split(".")
    return f"blk.{parts[2]}." + LAYER[".".join(parts[3:])]


# -- k-quant blocks from random codes, and what they decode to --------------------------------

QK_K = 256


def _f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).view(np.uint8).reshape(*x.shape, 2)


def _scale_min_k4(j: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if j < 4:
        return q[:, j] & 63, q[:, j + 4] & 63
    d = (q[:, j + 4] & 0xF) | ((q[:, j - 4] >> 6) << 4)
    m = (q[:, j + 4] >> 4) | ((q[:, j] >> 6) << 4)
    return d, m


def random_k_blocks(kind: T, blocks: int, rng: np.random.Generator, scale: float):
    """(bytes [blocks, size], values [blocks, 256]) of random k-quant blocks."""
    d = (rng.random(blocks) * scale / 32 + scale / 64).astype(np.float32)
    if kind == T.Q6_K:
        ql = rng.integers(0, 256, (blocks, 128), dtype=np.uint8)
        qh = rng.integers(0, 256, (blocks, 64), dtype=np.uint8)
        sc = rng.integers(-32, 32, (blocks, 16)).astype(np.int8)
        raw = np.concatenate([ql, qh, sc.view(np.uint8), _f16(d)], axis=1)
        dd = d.astype(np.float16).astype(np.float32)
        y = np.empty((blocks, QK_K), np.float32)
        for n in range(2):
            L, H, S = ql[:, 64 * n :], qh[:, 32 * n :], sc[:, 8 * n :].astype(np.float32)
            for l in range(32):  # noqa: E741 - ggml's names
                s = l // 16
                q1 = ((L[:, l] & 0xF) | (((H[:, l] >> 0) & 3) << 4)).astype(np.int32) - 32
                q2 = ((L[:, l + 32] & 0xF) | (((H[:, l] >> 2) & 3) << 4)).astype(np.int32) - 32
                q3 = ((L[:, l] >> 4) | (((H[:, l] >> 4) & 3) << 4)).astype(np.int32) - 32
                q4 = ((L[:, l + 32] >> 4) | (((H[:, l] >> 6) & 3) << 4)).astype(np.int32) - 32
                for off, q, k in ((0, q1, 0), (32, q2, 2), (64, q3, 4), (96, q4, 6)):
                    y[:, 128 * n + l + off] = dd * S[:, s + k] * q
        return raw, y
    dmin = (rng.random(blocks) * scale / 64).astype(np.float32)
    scales = rng.integers(0, 256, (blocks, 12), dtype=np.uint8)
    qs = rng.integers(0, 256, (blocks, 128), dtype=np.uint8)
    dd = d.astype(np.float16).astype(np.float32)
    mm = dmin.astype(np.float16).astype(np.float32)
    y = np.empty((blocks, QK_K), np.float32)
    if kind == T.Q4_K:
        raw = np.concatenate([_f16(d), _f16(dmin), scales, qs], axis=1)
        for i, j in enumerate(range(0, QK_K, 64)):
            s1, m1 = _scale_min_k4(2 * i, scales)
            s2, m2 = _scale_min_k4(2 * i + 1, scales)
            q = qs[:, 32 * i : 32 * i + 32]
            y[:, j : j + 32] = (dd * s1)[:, None] * (q & 0xF) - (mm * m1)[:, None]
            y[:, j + 32 : j + 64] = (dd * s2)[:, None] * (q >> 4) - (mm * m2)[:, None]
        return raw, y
    assert kind == T.Q5_K
    qh = rng.integers(0, 256, (blocks, 32), dtype=np.uint8)
    raw = np.concatenate([_f16(d), _f16(dmin), scales, qh, qs], axis=1)
    u1, u2 = 1, 2
    for i, j in enumerate(range(0, QK_K, 64)):
        s1, m1 = _scale_min_k4(2 * i, scales)
        s2, m2 = _scale_min_k4(2 * i + 1, scales)
        q = qs[:, 32 * i : 32 * i + 32]
        lo = (q & 0xF) + np.where(qh & u1, 16, 0)
        hi = (q >> 4) + np.where(qh & u2, 16, 0)
        y[:, j : j + 32] = (dd * s1)[:, None] * lo - (mm * m1)[:, None]
        y[:, j + 32 : j + 64] = (dd * s2)[:, None] * hi - (mm * m2)[:, None]
        u1, u2 = u1 << 2, u2 << 2
    return raw, y


# -- the file -------------------------------------------------------------------------------


def _tokenizer_metadata(writer: GGUFWriter, src: Path, keep: int | None = None) -> None:
    tj = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    cfg = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    vocab = dict(tj["model"]["vocab"])
    added = {t["content"]: (t["id"], t["special"]) for t in tj["added_tokens"]}
    special = {text: i for text, (i, _) in added.items()}
    size = max([*vocab.values(), *special.values()]) + 1
    tokens = [""] * size
    types = [1] * size
    for text, i in vocab.items():
        tokens[i] = text
    for text, (i, is_special) in added.items():  # llama.cpp: control, or user-defined (<think>)
        tokens[i], types[i] = text, 3 if is_special else 4
    tokens, types = tokens[:keep], types[:keep]  # keep: a vocabulary cut short (hostile)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(special["<|im_end|>"])
    writer.add_pad_token_id(special["<|endoftext|>"])
    writer.add_bos_token_id(special["<|endoftext|>"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(cfg["chat_template"])


def write_gguf(
    src: Path,
    out: Path,
    types: dict[str, T],
    arch: str | None = None,
    seed: int = 0,
    lie: dict[str, int] | None = None,
):
    """Write the HF folder ``src`` as ``out``; ``types`` maps a GGUF name's suffix (``ffn_up``,
    ``token_embd`` ...) to its tensor type (F32 otherwise). Returns {hf name: float32 weight
    as the file holds it}, for the test to load into the same model. ``lie`` makes a hostile
    file: ``block_count``, ``context_length`` or ``embedding_length`` written as given, or only
    the first ``tokens`` tokens of the vocabulary."""
    from safetensors.torch import load_file

    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    state = {}
    for f in sorted(src.glob("*.safetensors")):
        state.update(load_file(str(f)))
    arch = arch or config["model_type"]
    writer = GGUFWriter(str(out), arch)
    lie = lie or {}
    writer.add_block_count(lie.get("block_count", config["num_hidden_layers"]))
    writer.add_context_length(lie.get("context_length", config["max_position_embeddings"]))
    writer.add_embedding_length(lie.get("embedding_length", config["hidden_size"]))
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    if config.get("head_dim"):  # Qwen3, as convert_hf_to_gguf.py writes it
        writer.add_key_length(config["head_dim"])
        writer.add_value_length(config["head_dim"])
    _tokenizer_metadata(writer, src, lie.get("tokens"))
    rng = np.random.default_rng(seed)
    held: dict[str, torch.Tensor] = {}
    for hf, tensor in state.items():
        if config.get("tie_word_embeddings") and hf == "lm_head.weight":
            continue
        name = gguf_name(hf)
        w = tensor.float().numpy()
        kind = next((t for suffix, t in types.items() if name.split(".")[-2] == suffix), T.F32)
        kind = kind if w.ndim == 2 else T.F32  # norms and biases stay F32, as llama.cpp keeps them
        if kind in (T.Q4_K, T.Q5_K, T.Q6_K):
            rows, cols = w.shape
            raw, values = random_k_blocks(kind, rows * cols // QK_K, rng, float(np.abs(w).max()))
            writer.add_tensor(name, raw.reshape(rows, -1), raw_dtype=kind)
            held[hf] = torch.from_numpy(values.reshape(rows, cols))
        elif kind in (T.F32, T.F16):
            data = w.astype(np.float32 if kind == T.F32 else np.float16)
            writer.add_tensor(name, data)
            held[hf] = torch.from_numpy(data.astype(np.float32))
        else:
            raw = quants.quantize(w, kind)
            writer.add_tensor(name, raw, raw_dtype=kind)
            held[hf] = torch.from_numpy(quants.dequantize(raw, kind).reshape(w.shape))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return held
