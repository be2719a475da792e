"""Choosing the next token without torch: the rules of ``sampling.py`` in one C call per
token (``kernels.sampling.sample``), the draw's uniform number from ``random.Random(seed)``.

``SamplingRules`` reads ``GenerationParams`` once for both samplers (torch's ``Sampler`` and
``NativeSampler``), and ``TokenSampler`` is what the token loop asks of either. Both draw from
the same distribution; a given seed gives a different sequence in each (torch's generator is
not Python's).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..kernels.sampling import sample
from ..types import GenerationParams


class TokenSampler(Protocol):
    def next_token(self, seen_ids: Any, logits: Any) -> int:
        """The next token, from the ids so far and the logits of the next position."""
        ...


@dataclass(frozen=True)
class SamplingRules:
    """What ``GenerationParams`` asks of a sampler, with "off" spelled out."""

    greedy: bool  # temperature unset or <= 0
    penalty: float | None  # the repetition penalty; None for none (unset or 1)
    temperature: float
    top_k: int  # 0: every token
    top_p: float | None  # None unless 0 < top_p < 1
    seed: int | None

    @classmethod
    def of(cls, params: GenerationParams) -> SamplingRules:
        penalty = params.repetition_penalty
        top_p = params.top_p
        return cls(
            greedy=not params.temperature or params.temperature <= 0,
            penalty=float(penalty) if penalty and penalty != 1.0 else None,
            temperature=float(params.temperature or 1.0),
            top_k=int(params.top_k) if params.top_k and params.top_k > 0 else 0,
            top_p=float(top_p) if top_p is not None and 0 < top_p < 1 else None,
            seed=None if params.seed is None else int(params.seed),
        )


class NativeSampler:
    """``Sampler``'s rules without torch: ``next_token(seen_ids, logits)`` takes the ids as a
    list or an array (a [1, n] tensor works too) and the logits as float32 [vocab] or
    [1, vocab] (an array, or anything numpy can view, such as a CPU tensor)."""

    def __init__(self, params: GenerationParams) -> None:
        self.rules = SamplingRules.of(params)
        self.random = random.Random(self.rules.seed)  # None: seeded from the OS

    def next_token(self, seen_ids: Any, logits: Any) -> int:
        rules = self.rules
        scores = np.asarray(logits)
        if scores.ndim == 2 and scores.shape[0] == 1:
            scores = scores[0]
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        seen = (
            np.asarray(seen_ids, dtype=np.int64).reshape(-1)
            if rules.penalty is not None
            else np.empty(0, np.int64)  # not read without a penalty
        )
        if rules.greedy:
            return sample(scores, seen, penalty=rules.penalty or 1.0)
        return sample(
            scores,
            seen,
            penalty=rules.penalty or 1.0,
            temperature=rules.temperature,
            top_k=rules.top_k,
            top_p=rules.top_p or 1.0,
            u=self.random.random(),
        )
