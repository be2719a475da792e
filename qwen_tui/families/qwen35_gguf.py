"""How llama.cpp's converter (``conversion/qwen.py``: ``_LinearAttentionVReorderBase`` then
``Qwen3NextModel.modify_tensors``) changes Qwen3.5's tensors on the way to a ``qwen35`` GGUF,
step by step, and the way back: a tensor's ``TensorSpec.gguf_steps`` are applied in order by
``to_gguf`` and undone in reverse by ``from_gguf``. Arrays are as the Hugging Face checkpoint
holds them ([out, in] for a weight; a GGUF reader's [in, out] reversed first).

- ``plus_one``: a zero-centred RMSNorm's ``w`` is stored as ``1 + w`` (every norm but the
  linear-attention layers' gated one).
- ``neg_exp``: ``A_log`` is stored as ``A = -exp(A_log)`` (``blk.N.ssm_a``), the factor the
  decay multiplies softplus(a + dt_bias) by.
- ``squeeze``: the conv1d's [channels, 1, kernel] becomes [channels, kernel].
- ``v_tiled_*``: with more value heads than key heads (r = Hv / Hk of them per key head), the
  checkpoint orders value heads grouped by key head (value head k·r + j reads key head k);
  ggml repeats q and k by tiling, so the converter orders them tiled (position j·Hk + k holds
  grouped head k·r + j, and reads key head position % Hk). Applied to: the rows of in_proj_z
  (``v_tiled_rows``, Hv blocks of dv rows), the v rows of in_proj_qkv and the v channels of
  the conv (``v_tiled_qkv``: after the 2·Hk·dk q and k rows), the rows of in_proj_a/b and the
  values of A_log and dt_bias (``v_tiled_heads``, blocks of 1), and the columns of out_proj
  (``v_tiled_cols``). The gated norm's weight (one head's width, shared) is unchanged.

A reader that takes a tensor a chunk of rows at a time undoes them per chunk: ``gguf_rows``
says which of the GGUF tensor's rows hold a chunk of the checkpoint's rows (the row moves:
``v_tiled_rows``, ``v_tiled_heads``, ``v_tiled_qkv``; ``squeeze`` keeps the rows), and
``from_gguf_rows`` undoes the rest on those rows (``plus_one``, ``neg_exp``, ``v_tiled_cols``).
"""

from __future__ import annotations

import numpy as np

from .spec import ModelDims


def to_gguf(values: np.ndarray, steps: tuple[str, ...], dims: ModelDims) -> np.ndarray:
    """The tensor as llama.cpp's converter writes it."""
    for step in steps:
        values = _step(values, step, dims, forward=True)
    return values


def from_gguf(values: np.ndarray, steps: tuple[str, ...], dims: ModelDims) -> np.ndarray:
    """The tensor as the Hugging Face checkpoint holds it, from a GGUF's."""
    for step in reversed(steps):
        values = _step(values, step, dims, forward=False)
    return values


ROW_MOVES = ("v_tiled_rows", "v_tiled_heads", "v_tiled_qkv")
SAME_ROWS = ("squeeze",)  # the conv's [channels, 1, kernel] rows are its [channels, kernel]


def gguf_rows(steps: tuple[str, ...], dims: ModelDims, rows: int, first: int, last: int
              ) -> np.ndarray | None:  # fmt: skip
    """The GGUF tensor's rows that hold the checkpoint's rows ``first`` to ``last`` (of
    ``rows``), in order; None where they are the same rows."""
    moves = [step for step in steps if step in ROW_MOVES]
    if not moves:
        return None
    order = np.arange(rows).reshape(rows, 1)  # order[p]: the checkpoint's row at GGUF row p
    for step in moves:
        order = _step(order, step, dims, forward=True)
    where = np.empty(rows, np.int64)
    where[order.reshape(-1)] = np.arange(rows)
    return where[first:last]


def from_gguf_rows(values: np.ndarray, steps: tuple[str, ...], dims: ModelDims) -> np.ndarray:
    """Rows [n, cols] of a tensor as the checkpoint holds them, from the GGUF's same rows
    (picked by ``gguf_rows``): the steps that change values or move columns, undone."""
    for step in reversed(steps):
        if step not in ROW_MOVES + SAME_ROWS:
            values = _step(values, step, dims, forward=False)
    return values


def _step(values: np.ndarray, step: str, d: ModelDims, forward: bool) -> np.ndarray:
    if step == "plus_one":
        return values + np.float32(1.0) if forward else values - np.float32(1.0)
    if step == "neg_exp":
        if forward:
            return -np.exp(values)
        with np.errstate(invalid="ignore", divide="ignore"):  # a positive A: NaN, refused later
            return np.log(-values)
    if step == "squeeze":
        return values.reshape(values.shape[0], -1) if forward else values[:, None, :]
    if step == "v_tiled_rows":
        return _reorder(values, 0, d, d.linear_v_dim, forward)
    if step == "v_tiled_heads":
        return _reorder(values, 0, d, 1, forward)
    if step == "v_tiled_cols":
        return _reorder(values, 1, d, d.linear_v_dim, forward)
    if step == "v_tiled_qkv":
        qk = 2 * d.linear_key_dim
        tail = _reorder(values[qk:], 0, d, d.linear_v_dim, forward)
        return np.concatenate([values[:qk], tail], axis=0)
    raise ValueError(f"unknown GGUF step {step!r}")


def _reorder(values: np.ndarray, axis: int, d: ModelDims, width: int, forward: bool) -> np.ndarray:
    """Value heads (blocks of ``width`` along ``axis``) from grouped to tiled, or back."""
    k_heads, per_key = d.linear_k_heads, d.linear_v_heads // d.linear_k_heads
    shape = values.shape
    outer = (k_heads, per_key) if forward else (per_key, k_heads)
    split = values.reshape(*shape[:axis], *outer, width, *shape[axis + 1 :])
    return np.swapaxes(split, axis, axis + 1).reshape(shape)
