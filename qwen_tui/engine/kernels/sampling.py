"""The next token from a vocabulary's logits in one C call (``csrc/sample.c``), on numpy
arrays: no torch.

The rules are ``generate/sampling.py``'s (transformers' repetition penalty, temperature,
top-k, top-p, in that order) and the draw is an inverse CDF at ``u``, a uniform number in
[0, 1) the caller supplies (``random.Random(seed).random()``), so a seed repeats a sequence.
"""

from __future__ import annotations

import math

import numpy as np

from . import KernelError, library
from .arrays import address, require, require_indices

NAN = -2  # csrc/sample.h: QK_SAMPLE_NAN
NOT_FINITE = -3  # QK_SAMPLE_NOT_FINITE
NO_SEEN = np.empty(0, np.int64)


def sample(
    logits: np.ndarray,
    seen: np.ndarray = NO_SEEN,
    *,
    penalty: float = 1.0,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    u: float = 0.0,
) -> int:
    """The token drawn from ``logits`` (float32 [vocab]): ``seen`` (int64 [n], ids in
    [0, vocab), repeats allowed) get the repetition ``penalty`` (1: none); ``temperature`` 0
    is greedy (the first maximal index); ``top_k`` 0 keeps every token, ``top_p`` 1 all the
    mass."""
    logits = require(logits, "logits", np.float32, dims=1)
    seen = require_indices(seen, "seen", logits.size)
    if not logits.size or logits.size >= 2**31:
        raise KernelError(f"logits must hold 1 to 2**31 - 1 values, not {logits.size}")
    if not (penalty > 0 and math.isfinite(penalty)):
        raise KernelError(f"the repetition penalty must be a positive number, not {penalty}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise KernelError(f"the temperature must be 0 or more, not {temperature}")
    if top_k < 0 or top_k >= 2**31:
        raise KernelError(f"top_k must be 0 (all) or more, not {top_k}")
    if not 0 < top_p <= 1:
        raise KernelError(f"top_p must be in (0, 1], not {top_p}")
    if not 0 <= u < 1:
        raise KernelError(f"u must be in [0, 1), not {u}")
    token: int = library().sample(
        address(logits), logits.size, address(seen) if seen.size else 0, seen.size,
        float(penalty), float(temperature), int(top_k), float(top_p), float(u),
    )  # fmt: skip
    if token == NAN:
        raise KernelError(
            "the logits hold a NaN, so no token can be drawn: the model's weights may be "
            "damaged, quantize it again"
        )
    if token == NOT_FINITE:
        raise KernelError(
            "the logits have no finite largest value, so no token can be drawn: the model's "
            "weights may be damaged, quantize it again"
        )
    return token
