"""A ``qwen35`` GGUF file (Qwen3.5, as llama.cpp's converter writes it): its metadata as
config.json, its hybrid layout checked against its tensors, and its tensors' names.

The keys the converter writes (``conversion/qwen.py``: ``Qwen3NextModel`` and its Qwen3.5
subclasses) and what they are in transformers 5's config:

- ``block_count``: the layers *and* the multi-token-prediction ones after them
  (``nextn_predict_layers``, 0 when absent or converted with ``--no-mtp``);
  ``num_hidden_layers`` is the difference. MTP layers are skipped, as from a folder.
- ``attention.recurrent_layers``: one bool per block (true: Gated DeltaNet, ``linear_attention``;
  false: ``full_attention``); without it, ``full_attention_interval`` (4): as llama.cpp reads it.
- ``ssm.conv_kernel``, ``ssm.state_size`` (a key head's width), ``ssm.group_count`` (key
  heads), ``ssm.time_step_rank`` (value heads), ``ssm.inner_size`` (value heads x their width).
- ``attention.key_length`` / ``value_length``: ``head_dim``; ``rope.dimension_count``: the
  rotary dims of a head (``partial_rotary_factor`` of ``head_dim``); ``rope.dimension_sections``:
  mRoPE's sections (for text every section turns by the same position).

Each layer must hold the tensors of its kind and none of the other's, each of the shape the
metadata makes (``families/qwen35.py``'s table, as the converter stores it): what is wrong is
said naming the layer or the tensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...families import FULL, LINEAR, ModelDims
from ...families.qwen35 import QWEN35
from .checks import MAX_LAYERS, MAX_WIDTH
from .read import GgufFile
from .weights import dequantize

# a model tensor's GGUF name -> (its Hugging Face name, its steps); a tied head is the table
MODEL_NAMES = {
    t.gguf: (t.source.format(lm="model."), t.gguf_steps) for t in QWEN35.model_tensors if t.gguf
}
KIND_NAMES = {FULL: "full-attention", LINEAR: "Gated DeltaNet (linear-attention)"}


def _suffix(template: str) -> str:
    return template.removeprefix("blk.{i}.")


# a layer tensor's GGUF name after blk.N. -> (its kind or None, its Hugging Face name, its steps)
LAYER_NAMES = {
    _suffix(t.gguf): (t.kind, t.source.replace("{lm}", "model."), t.gguf_steps)
    for t in QWEN35.layer_tensors
    if t.gguf
}


def layout(gf: GgufFile) -> tuple[int, int, list[bool]]:
    """(layers, MTP layers after them, whether each of the layers is recurrent)."""
    blocks = gf.require("block_count", below=MAX_LAYERS)
    mtp = gf.whole(f"{gf.arch}.nextn_predict_layers", 0, blocks) or 0
    layers = blocks - mtp
    listed = gf.arch_field("attention.recurrent_layers")
    if listed is None:
        every = gf.whole(f"{gf.arch}.full_attention_interval", 1, MAX_LAYERS) or 4
        return layers, mtp, [(i + 1) % every != 0 for i in range(layers)]
    if not isinstance(listed, np.ndarray) or listed.dtype != np.bool_ or len(listed) != blocks:
        raise gf.refuse(
            f"its {gf.arch}.attention.recurrent_layers is not one true or false for each of its "
            f"{blocks:,} blocks ({gf.arch}.block_count)"
        )
    return layers, mtp, [bool(r) for r in listed[:layers]]


def hf_config(gf: GgufFile, base: dict[str, Any]) -> dict[str, Any]:
    """config.json of a text-only Qwen3.5 (``Qwen3_5ForCausalLM``) from the file's metadata;
    ``base`` holds what every architecture's metadata gives (sizes, tokens, context)."""
    layers, mtp, recurrent = layout(gf)
    head_dim = gf.require("attention.key_length", below=MAX_WIDTH)
    rotary = gf.require("rope.dimension_count", below=MAX_WIDTH)
    value_heads = gf.require("ssm.time_step_rank", below=MAX_WIDTH)
    inner = gf.require("ssm.inner_size", below=MAX_WIDTH)
    rope: dict[str, Any] = {
        "rope_type": "default",
        "rope_theta": base.pop("rope_theta"),
        "partial_rotary_factor": rotary / head_dim,
    }
    sections = gf.arch_field("rope.dimension_sections")
    if isinstance(sections, np.ndarray) and sections.dtype.kind in "iu":
        rope["mrope_section"] = [int(s) for s in sections[:3]]  # the 4th: 0, for text
        rope["mrope_interleaved"] = True
    dropped = ("use_sliding_window", "sliding_window", "max_window_layers")  # not Qwen3.5's
    return {
        "architectures": ["Qwen3_5ForCausalLM"],
        "model_type": "qwen3_5_text",
        **{key: value for key, value in base.items() if key not in dropped},
        "num_hidden_layers": layers,
        "head_dim": head_dim,
        "attention_bias": False,
        "layer_types": [LINEAR if r else FULL for r in recurrent],
        "full_attention_interval": gf.whole(f"{gf.arch}.full_attention_interval", 1, MAX_LAYERS)
        or 4,
        "linear_conv_kernel_dim": gf.require("ssm.conv_kernel", below=MAX_WIDTH),
        "linear_key_head_dim": gf.require("ssm.state_size", below=MAX_WIDTH),
        "linear_num_key_heads": gf.require("ssm.group_count", below=MAX_WIDTH),
        "linear_num_value_heads": value_heads,
        "linear_value_head_dim": inner // value_heads,
        "mtp_num_hidden_layers": mtp,
        "rope_parameters": rope,
    }


def check(gf: GgufFile, config: dict[str, Any]) -> None:
    """Refuse, naming the key, the layer or the tensor, a file whose numbers do not make a
    Qwen3.5 or whose layers do not hold what its metadata says they are."""
    head_dim, rotary = config["head_dim"], gf.require("rope.dimension_count", below=MAX_WIDTH)
    value_length = gf.whole(f"{gf.arch}.attention.value_length", 1, MAX_WIDTH) or head_dim
    if value_length != head_dim:
        raise gf.refuse(
            f"its {gf.arch}.attention.value_length ({value_length}) is not its key_length "
            f"({head_dim}), which Qwen3.5's attention needs"
        )
    if rotary > head_dim or rotary % 2:
        raise gf.refuse(
            f"its {gf.arch}.rope.dimension_count ({rotary}) is not an even number of a head's "
            f"{head_dim} dims (attention.key_length)"
        )
    if gf.require("ssm.inner_size", below=MAX_WIDTH) % config["linear_num_value_heads"]:
        raise gf.refuse(
            f"its {gf.arch}.ssm.inner_size is not a multiple of its ssm.time_step_rank (value "
            "heads)"
        )
    if config["linear_num_value_heads"] % config["linear_num_key_heads"]:
        raise gf.refuse(
            f"its {gf.arch}.ssm.time_step_rank (value heads) is not a multiple of its "
            "ssm.group_count (key heads)"
        )
    _check_layers(gf, QWEN35.dims(config))


def _held(gf: GgufFile) -> dict[int, set[str]]:
    """{layer: the names of its tensors after blk.N.}"""
    held: dict[int, set[str]] = {}
    for tensor in gf.header.tensors:
        layer, _, part = tensor.name.removeprefix("blk.").partition(".")
        if tensor.name.startswith("blk.") and layer.isdigit():
            held.setdefault(int(layer), set()).add(part)
    return held


def check_not_draft(gf: GgufFile) -> None:
    """Refuse a file of the MTP layers alone (the converter's ``--mtp``: a draft model)."""
    mtp = gf.whole(f"{gf.arch}.nextn_predict_layers", 0, MAX_LAYERS) or 0
    held = _held(gf)
    if mtp and held and 0 not in held:
        raise gf.refuse(
            "it holds only Qwen3.5's multi-token-prediction layers (a draft model for "
            "speculative decoding), not the model's own"
        )


def _check_layers(gf: GgufFile, dims: ModelDims) -> None:
    held = _held(gf)
    recurrent_key = f"{gf.arch}.attention.recurrent_layers"
    for i in range(dims.layers):
        kind = dims.kind(i)
        kinds = {part: LAYER_NAMES[part][0] for part in sorted(held.get(i, ())) if part in
                 LAYER_NAMES}  # fmt: skip
        other = next(((p, k) for p, k in kinds.items() if k not in (None, kind)), None)
        if other is not None:
            part, other_kind = other
            raise gf.refuse(
                f"its layer {i} holds {KIND_NAMES[str(other_kind)]} tensors (blk.{i}.{part}) but "
                f"its {recurrent_key} makes it a {KIND_NAMES[kind]} layer"
            )
        for spec in QWEN35.layer_tensors_of(dims, i):
            assert spec.gguf is not None
            name = spec.gguf.format(i=i)
            tensor = gf.header.tensor(name)
            if tensor is None:
                raise gf.refuse(
                    f"its layer {i}, a {KIND_NAMES[kind]} layer by its {recurrent_key}, has no "
                    f"{name}"
                )
            _check_shape(gf, name, tensor.dims, spec.shape_in(dims), spec.gguf_steps)
            if "neg_exp" in spec.gguf_steps:
                _check_decay(gf, name, dequantize(gf, tensor))


def _check_decay(gf: GgufFile, name: str, values: np.ndarray) -> None:
    """ssm_a is -exp(A_log): below zero, or there is no A_log it was made from."""
    bad = values[~(values < 0)]
    if bad.size:
        raise gf.refuse(
            f"its {name} holds {float(bad[0]):g}, not below zero as -exp(A_log) (the "
            "delta rule's decay) is"
        )


def _check_shape(gf: GgufFile, name: str, held: tuple[int, ...], shape: tuple[int, ...],
                 steps: tuple[str, ...]) -> None:  # fmt: skip
    """The tensor's dimensions (innermost first) against what the metadata makes them: the
    checkpoint's shape, squeezed where the converter squeezes it."""
    stored = tuple(d for d in shape if d != 1) if "squeeze" in steps else shape
    wanted = tuple(reversed(stored))
    if held != wanted:
        raise gf.refuse(
            f"its {name} is {list(held)} (innermost first) but its metadata makes it "
            + str(list(wanted))
        )


def tensor_names(gf: GgufFile) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{GGUF name: (Hugging Face name, the converter's steps)} of every tensor the model runs:
    the MTP layers, vision tensors and anything else left out."""
    layers, _, _ = layout(gf)
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for tensor in gf.header.tensors:
        name = tensor.name
        if name in MODEL_NAMES:
            out[name] = MODEL_NAMES[name]
            continue
        layer, _, part = name.removeprefix("blk.").partition(".")
        if name.startswith("blk.") and layer.isdigit() and int(layer) < layers:
            found = LAYER_NAMES.get(part)
            if found is not None:
                out[name] = (found[1].format(i=int(layer)), found[2])
    return out
