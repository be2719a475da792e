"""Write a GGUF file of random weights with the real dimensions of a `bench --synthetic` Qwen3.5,
so that qwen-tui and llama.cpp can be timed on the *same* weights at a size that cannot be
downloaded here (Qwen3.5-2B, 4B, 9B):

    .venv/bin/python scripts/synthetic_gguf.py qwen3.5-2b ~/q35-2b-f16.gguf
    PEER/bin/python scripts/llamacpp_peer.py quantize ~/q35-2b-f16.gguf ~/q35-2b-q4_0.gguf Q4_0
    .venv/bin/qwen-tui quantize ~/q35-2b-f16.gguf --name q35-2b --low-bit sym_int4 --no-quality

The tensors are `store/sources/random.py`'s (N(0, 0.02), norms 1, A_log and dt_bias 0),
changed as llama.cpp's converter changes Qwen3.5's on the way to GGUF (`families/qwen35_gguf.py`:
1 + w norms, -exp(A_log), value heads tiled), matrices in F16 and the rest in F32, as
`convert_hf_to_gguf.py --outtype f16` writes them. The metadata and tokenizer are those of the
tiny Qwen3.5 that llama.cpp's converter wrote (tests/fixtures/qwen35_gguf/qwen35-f32.gguf) with
this model's sizes; its vocabulary is padded with plain tokens to the model's 248,320 rows, so
the embedding and the output head are the real size. Written one tensor at a time.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

from qwen_tui.bench.synthetic import HYBRID, synthetic_config
from qwen_tui.families import family_for
from qwen_tui.families.qwen35_gguf import to_gguf
from qwen_tui.families.spec import ModelDims, TensorSpec
from qwen_tui.recipes import DEFAULT_RECIPE, RECIPES
from qwen_tui.store.sources.random import RandomSource

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tests" / "fixtures" / "qwen35_gguf" / "qwen35-f32.gguf"
F32_KEPT = ("ssm_conv1d", "ssm_a", "ssm_dt", "ssm_norm", "norm")  # roles llama.cpp keeps in F32


def tensors(dims: ModelDims, specs: list[tuple[TensorSpec, int | None]]) -> list[tuple]:
    """(gguf name, spec, layer) once per GGUF tensor, in the converter's order."""
    seen, out = set(), []
    for spec, i in specs:
        name = str(spec.gguf).format(i=i)
        if name not in seen:
            seen.add(name)
            out.append((name, spec, i))
    return out


def values(source: RandomSource, dims: ModelDims, spec: TensorSpec, i: int | None) -> np.ndarray:
    """The tensor as llama.cpp's converter would write it, in numpy order."""
    name = spec.source_in(dims, i)
    shape = spec.shape_in(dims)
    with source.read(name) as data:
        checkpoint = np.array(data.array, np.float32).reshape(shape)
    out = to_gguf(checkpoint, spec.gguf_steps, dims)
    if out.ndim == 2 and not spec.role.endswith(F32_KEPT):
        return np.ascontiguousarray(out, np.float16)
    return np.ascontiguousarray(out, np.float32)


def metadata(dims: ModelDims, key: str) -> Iterator[tuple[str, object, GGUFValueType, object]]:
    """(key, value, type, array item type) for every entry: the template's, resized."""
    arch = "qwen35"
    pairs = dims.rope_dim // 2  # mRoPE sections (text: all equal): 11, 11, 10 as released
    sections = [pairs * 11 // 32, pairs * 11 // 32, pairs - 2 * (pairs * 11 // 32), 0]
    sized = {
        "general.name": f"synthetic {key}",
        f"{arch}.block_count": dims.layers,
        f"{arch}.context_length": dims.positions,
        f"{arch}.embedding_length": dims.hidden,
        f"{arch}.feed_forward_length": dims.inter,
        f"{arch}.attention.head_count": dims.heads,
        f"{arch}.attention.head_count_kv": dims.kv_heads,
        f"{arch}.rope.dimension_sections": sections,
        f"{arch}.rope.freq_base": dims.rope_base,
        f"{arch}.attention.key_length": dims.head_dim,
        f"{arch}.attention.value_length": dims.head_dim,
        f"{arch}.ssm.conv_kernel": dims.conv_kernel,
        f"{arch}.ssm.state_size": dims.linear_k_dim,
        f"{arch}.ssm.group_count": dims.linear_k_heads,
        f"{arch}.ssm.time_step_rank": dims.linear_v_heads,
        f"{arch}.ssm.inner_size": dims.linear_value_dim,
        f"{arch}.attention.recurrent_layers": [
            dims.kind(i) != "full_attention" for i in range(dims.layers)
        ],  # fmt: skip
        f"{arch}.rope.dimension_count": dims.rope_dim,
        "general.file_type": 1,  # mostly F16
    }
    reader = GGUFReader(str(TEMPLATE))
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.size_label"):
            continue
        if name == f"{arch}.nextn_predict_layers":
            continue  # no multi-token-prediction layers
        value = sized.get(name, field.contents())
        if name == "tokenizer.ggml.tokens":
            value = [*value, *(f"<synthetic_{n}>" for n in range(len(value), dims.vocab))]
        if name == "tokenizer.ggml.token_type":
            value = [*value, *([1] * (dims.vocab - len(value)))]  # 1: a normal token
        sub = field.types[1] if field.types[0] == GGUFValueType.ARRAY else None
        yield name, value, field.types[0], sub


def write(key: str, out: Path) -> None:
    config = synthetic_config(key)
    family = family_for(str(config["model_type"]))
    assert family is not None
    dims = family.dims(config)
    specs = [(t, i) for i in range(dims.layers) for t in family.layer_tensors_of(dims, i)]
    specs += [(t, None) for t in family.model_tensors if t.when(dims)]
    listed = tensors(dims, specs)
    source = RandomSource(family.plan(dims, RECIPES[DEFAULT_RECIPE]))
    writer = GGUFWriter(str(out), "qwen35")
    for name, value, kind, sub in metadata(dims, key):
        writer.add_key_value(name, value, kind, sub_type=sub)
    for name, spec, _ in listed:  # shapes and types first: the header lists every tensor
        shape = spec.shape_in(dims)
        shape = (shape[0], shape[2]) if len(shape) == 3 else shape  # the conv, squeezed
        wide = len(shape) == 2 and not spec.role.endswith(F32_KEPT)
        dtype = np.dtype(np.float16 if wide else np.float32)
        writer.add_tensor_info(name, shape, dtype, int(np.prod(shape)) * dtype.itemsize)
    writer.write_header_to_file(out)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, spec, i in listed:
        writer.write_tensor_data(values(source, dims, spec, i))
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(HYBRID))
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    write(args.model, args.out)


if __name__ == "__main__":
    main()
