"""The float model one token (or a few) at a time, on caches: the keys and values of each
full-attention layer, and each Gated DeltaNet layer's conv window and delta-rule state. The
arithmetic is ``FloatReference``'s; a prompt fed here in pieces gives the logits the whole
prompt gives (tests/core/test_qwen35_reference.py), so this is the reference the C decoder's
step is checked against: it carries exactly what the C decoder carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

from ..errors import UsageError
from ..families import LINEAR, ModelDims
from .float_deltanet import LinearState

if TYPE_CHECKING:
    from .float_reference import FloatReference


@dataclass
class KeysValues:
    """A full-attention layer's keys (after rotary) and values, [positions, kv_heads, d]."""

    keys: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls, kv_heads: int, head_dim: int) -> KeysValues:
        nothing = np.zeros((0, kv_heads, head_dim), np.float32)
        return cls(nothing, nothing.copy())

    def extend(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.keys = np.concatenate([self.keys, keys])
        self.values = np.concatenate([self.values, values])


LayerCache = Union[KeysValues, LinearState]


def new_cache(dims: ModelDims) -> list[LayerCache]:
    """Every layer's cache, empty: what a model carries before its first token."""
    d = dims
    return [
        LinearState.empty(
            d.linear_conv_dim, d.conv_kernel, d.linear_v_heads, d.linear_k_dim, d.linear_v_dim
        )
        if d.kind(i) == LINEAR
        else KeysValues.empty(d.kv_heads, d.head_dim)
        for i in range(d.layers)
    ]


class FloatDecoder:
    """``reference``'s model fed a piece at a time; ``position`` tokens so far."""

    def __init__(self, reference: FloatReference) -> None:
        self.reference = reference
        self.cache = new_cache(reference.dims)
        self.position = 0

    def feed(self, ids: Sequence[int], chunked: bool = False) -> np.ndarray:
        """The logits [len(ids), vocab] of ``ids`` after those fed before; the caches then hold
        them too. The delta rule runs token by token unless ``chunked`` (as a prompt would)."""
        end = self.position + len(ids)
        if end > self.reference.dims.positions:
            raise UsageError(
                f"The float reference computes at most {self.reference.dims.positions} "
                f"positions of this model, not {end}.",
                "Feed fewer tokens.",
            )
        hidden = self.reference.forward(ids, self.cache, self.position, chunked)
        self.position = end
        return self.reference.head_rows(hidden)

    def step(self, token: int) -> np.ndarray:
        """The logits [vocab] after one more token."""
        return self.feed([token])[0]
