"""Keep resident memory to what the model really uses.

- Qwen2 models in transformers 4.37 keep a copy of the same rotary tables in
  every layer (768 MB for Qwen1.5-1.8B); one copy is shared instead.
- What loading frees goes back to the system (``malloc_trim``); then
  ``keep_scratch`` makes glibc keep what a prompt frees, and faults in 240 MB
  of it at once: a 500-token prompt's scratch tensors (about 270 MB) reuse
  those pages instead of taking some 70,000 page faults on every long prompt
  (about 0.2 s of its time to the first token here). Resident memory stays
  about 300 MB higher while a model is loaded; unloading trims it.
  (Linux/glibc; a no-op elsewhere.)
- The packed weights live in one buffer the kernel is asked to back with 2 MB pages
  (``huge_buffer``, a tensor over ``pages.huge_array``, where the reasons are).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from . import pages
from .pages import HUGE_PAGES_ENV as HUGE_PAGES_ENV  # memory.HUGE_PAGES_ENV for callers
from .pages import huge_page_bytes as huge_page_bytes
from .pages import map_large_allocations as map_large_allocations
from .pages import trim_heap as trim_heap

if TYPE_CHECKING:
    import torch


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)
SCRATCH_PIECE, SCRATCH_PIECES = 24 << 20, 10  # below glibc's 32 MB mmap and 64 MB arena limits


def keep_scratch() -> bool:
    """Keep freed memory in this thread's heap and fault in 240 MB of it now (call it on
    the thread that runs the model). True if glibc took the settings."""
    libc = pages.libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    if not (libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)):
        return False
    malloc, free, memset = libc.malloc, libc.free, libc.memset
    malloc.restype = ctypes.c_void_p
    free.argtypes = [ctypes.c_void_p]
    memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    pieces = [malloc(SCRATCH_PIECE) for _ in range(SCRATCH_PIECES)]
    for piece in pieces:
        if piece:
            memset(piece, 0, SCRATCH_PIECE)
    for piece in pieces:
        free(piece)
    return True


def share_rotary_tables(model: Any) -> int:
    """Let every layer use the first layer's rotary cos/sin tables.

    transformers 4.37 gives each Qwen2 attention layer its own rotary embedding
    with cos/sin tables for all ``max_position_embeddings`` positions: 32 MB
    per layer for Qwen1.5's 32,768 positions, 768 MB for 24 identical copies.
    """
    body = getattr(model, "model", None)
    layers = getattr(body, "layers", None) or []
    rotaries = [getattr(layer.self_attn, "rotary_emb", None) for layer in layers]
    if not rotaries or rotaries[0] is None:
        return 0
    first = rotaries[0]

    def same(r: Any) -> bool:
        keys = ("dim", "base", "max_position_embeddings")
        return type(r) is type(first) and all(
            getattr(r, k, None) == getattr(first, k, None) for k in keys
        )

    shared = 0
    for layer, rotary in zip(layers[1:], rotaries[1:], strict=True):
        if rotary is not first and same(rotary):
            layer.self_attn.rotary_emb = first
            shared += 1
    return shared


def huge_buffer(nbytes: int) -> tuple[torch.Tensor, bool]:
    """``pages.huge_array`` as a torch tensor (the same memory): a zeroed uint8 buffer at a
    2 MB boundary advised onto huge pages, and whether the advice was taken."""
    import torch  # here: the CLI and the app import this module before they need torch

    array, huge = pages.huge_array(nbytes)
    return torch.from_numpy(array), huge
