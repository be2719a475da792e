"""The header of the ``model.safetensors`` a store holds, from the family's plan alone: every
tensor's dtype, shape and byte range are known before a byte is written, so the streaming
quantizer writes the header first and the estimates know the file's size to the byte.
(No numpy here: the estimates run when the command line starts.)"""

from __future__ import annotations

import json
from typing import Any

from ..families import Planned


def weights_header(plan: list[Planned]) -> bytes:
    """The 8-byte length and the JSON header (padded to 8 bytes), tensors in plan order:
    float32 ones as they are, quantized ones as their blocks' bytes (U8)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in plan:
        kind, shape = ("F32", list(t.shape)) if t.store == "f32" else ("U8", [t.nbytes])
        header[t.name] = {"dtype": kind, "shape": shape,
                          "data_offsets": [offset, offset + t.nbytes]}  # fmt: skip
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def weights_file_bytes(plan: list[Planned]) -> int:
    """The size of the file: header and every tensor."""
    return len(weights_header(plan)) + sum(t.nbytes for t in plan)
