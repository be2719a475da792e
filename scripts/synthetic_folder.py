"""Write a Hugging Face folder of random bfloat16 weights with the real dimensions of a
`bench --synthetic` model, to measure `quantize` from a folder on a model too large to download
here (Qwen3-4B: 8 GB of safetensors), as a user's download would be quantized.

    .venv/bin/python scripts/synthetic_folder.py qwen3-4b ~/q4b \
        --tokenizer-from ~/.cache/qwen-tui/models/coder-mixed_int5
    /usr/bin/time -v .venv/bin/qwen-tui quantize ~/q4b --name q4b [--no-quality]

The weights are `store/sources/random.py`'s (N(0, 0.02), norms 1), written a chunk of rows at
a time, so writing takes little memory; the tokenizer files are copied from a folder whose
vocabulary has the model's size (Qwen2.5's and Qwen3's: 151,936 rows).
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np

from qwen_tui.bench.synthetic import synthetic_config
from qwen_tui.families import BY_NAME
from qwen_tui.recipes import DEFAULT_RECIPE, RECIPES
from qwen_tui.store.sources.random import RandomSource

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
ROWS = 1024  # rows made and written at a time


def bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounded to nearest even (as torch rounds)."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def write_folder(key: str, out: Path, tokenizer_from: Path) -> None:
    config = synthetic_config(key)
    config["torch_dtype"] = "bfloat16"
    family = BY_NAME[config["model_type"]]
    plan = family.plan(family.dims(config), RECIPES[DEFAULT_RECIPE])
    source = RandomSource(plan)
    names = source.names()
    header: dict[str, dict] = {}
    offset = 0
    for name in names:
        info = source.info(name)
        assert info is not None
        size = int(np.prod(info.shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(info.shape),
                        "data_offsets": [offset, offset + size]}  # fmt: skip
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for name in names:
            info = source.info(name)
            assert info is not None
            rows = info.shape[0]
            for first in range(0, rows, ROWS if len(info.shape) > 1 else rows):
                last = min(rows, first + ROWS) if len(info.shape) > 1 else rows
                with source.read(name, (first, last)) as data:
                    fh.write(bfloat16(np.ascontiguousarray(data.array)).tobytes())
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).is_file():
            shutil.copy(tokenizer_from / name, out / name)
    print(f"{out}: {offset / 1e9:.2f} GB of bfloat16 weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a `bench --synthetic` name, e.g. qwen3-4b")
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokenizer-from", type=Path, required=True)
    args = parser.parse_args()
    write_folder(args.model, args.out, args.tokenizer_from)


if __name__ == "__main__":
    main()
