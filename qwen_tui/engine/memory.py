"""Keep resident memory to what the model really uses.

- Qwen2 models in transformers 4.37 keep a copy of the same rotary tables in
  every layer (768 MB for Qwen1.5-1.8B); one copy is shared instead.
- A long prompt's scratch tensors are freed into glibc's heap, which keeps
  them resident; ``malloc_trim`` hands them back after a reply (Linux; a
  no-op elsewhere).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def trim_heap() -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def share_rotary_tables(model: Any) -> None:
    """Let every layer use the first layer's rotary cos/sin tables.

    transformers 4.37 gives each Qwen2 attention layer its own rotary embedding
    with cos/sin tables for all ``max_position_embeddings`` positions: 32 MB
    per layer for Qwen1.5's 32,768 positions, 768 MB for 24 identical copies.
    """
    body = getattr(model, "model", None)
    layers = getattr(body, "layers", None) or []
    rotaries = [getattr(layer.self_attn, "rotary_emb", None) for layer in layers]
    if not rotaries or rotaries[0] is None:
        return
    first = rotaries[0]

    def same(r: Any) -> bool:
        keys = ("dim", "base", "max_position_embeddings")
        return type(r) is type(first) and all(
            getattr(r, k, None) == getattr(first, k, None) for k in keys
        )

    for layer, rotary in zip(layers[1:], rotaries[1:], strict=True):
        if rotary is not first and same(rotary):
            layer.self_attn.rotary_emb = first
