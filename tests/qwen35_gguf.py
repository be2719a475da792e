"""The tiny Qwen3.5 as llama.cpp's converter wrote it (tests/fixtures/qwen35_gguf, make.py there
says how), and the same file written again with a change, for the import's tests.

``rewrite`` copies every metadata entry and tensor of a GGUF file with the ``gguf`` package,
bytes as they are (a quantized tensor stays in its blocks), except what it is told to replace
or drop: a file that lies about its layers is the real file with one lie in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "qwen35_reference"
F32_GGUF = FIXTURES / "qwen35_gguf" / "qwen35-f32.gguf"  # with one MTP layer (blk.4)
Q8_GGUF = FIXTURES / "qwen35_gguf" / "qwen35-q8_0.gguf"  # converted with --no-mtp
DROP = object()


def f16_tensors(src: Path = F32_GGUF) -> dict[str, np.ndarray]:
    """Every matrix of ``src`` (an F32 file) as float16, as ``--outtype f16`` keeps them."""
    return {t.name: np.array(t.data).astype(np.float16) for t in GGUFReader(str(src)).tensors
            if len(t.shape) == 2 and not t.name.endswith("ssm_conv1d.weight")}  # fmt: skip


def rewrite(
    src: Path,
    dest: Path,
    *,
    arch: str | None = None,
    metadata: dict[str, Any] | None = None,
    tensors: dict[str, Any] | None = None,
) -> Path:
    """``src`` as ``dest``: ``metadata`` values replace the file's (same value type; DROP
    leaves the key out), ``tensors`` its tensors (an array in numpy order, written as F16 if it
    is float16, else F32; DROP leaves it out); ``arch`` is written as general.architecture."""
    metadata, tensors = metadata or {}, tensors or {}
    reader = GGUFReader(str(src))
    writer = GGUFWriter(str(dest), arch or str(reader.fields["general.architecture"].contents()))
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = metadata.get(key, field.contents())
        if value is DROP:
            continue
        sub = field.types[1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub)
    for tensor in reader.tensors:
        new = tensors.get(tensor.name)
        if new is DROP:
            continue
        if new is not None:
            kind = np.float16 if new.dtype == np.float16 else np.float32
            writer.add_tensor(tensor.name, np.ascontiguousarray(new, kind))
        else:
            writer.add_tensor(tensor.name, np.array(tensor.data), raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest
