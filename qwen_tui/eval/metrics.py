"""Perplexity, KL divergence and top-1 agreement from logits, added up a chunk of positions at
a time (the logits of 512 positions of Qwen's 151,936-token vocabulary are 311 MB in float32;
a chunk of 64 is 39 MB). Logits may be numpy arrays or torch tensors."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..sizes import CHECK_ROWS as ROWS  # positions scored at a time

_BLOCK = 16  # positions reduced at a time inside a chunk (bounds the temporaries)


@dataclass(frozen=True)
class Scores:
    ppl: float
    kl: float | None = None  # mean KL(reference || model), nats
    top1: float | None = None  # fraction of positions whose most likely token matches

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def as_floats(logits: Any) -> np.ndarray:
    """Logits as a float32 numpy array (a torch tensor is converted, numpy kept as it is)."""
    if isinstance(logits, np.ndarray):
        return logits.astype(np.float32, copy=False)
    if hasattr(logits, "detach"):  # torch, without importing it here
        return logits.detach().float().cpu().numpy()
    return np.asarray(logits, dtype=np.float32)


def log_softmax(rows: np.ndarray) -> np.ndarray:
    """log softmax of each row, float32 (a new array)."""
    out = rows - rows.max(axis=-1, keepdims=True)
    total = np.sum(np.exp(out), axis=-1, keepdims=True, dtype=np.float64)
    out -= np.log(total).astype(np.float32)
    return out


class Tally:
    """Running sums over chunks of positions: the model's negative log-likelihood of the next
    tokens, and against a reference, KL(reference || model) and top-1 agreement."""

    def __init__(self) -> None:
        self.nll = 0.0
        self.kl = 0.0
        self.agree = 0
        self.count = 0
        self.compared = False

    def add(self, logits: Any, targets: np.ndarray, reference: Any = None) -> None:
        """Positions whose logits are ``logits`` [r, vocab] and next tokens ``targets`` [r]
        (with ``reference``: the reference's logits of the same positions)."""
        model = as_floats(logits)
        ref = as_floats(reference) if reference is not None else None
        if ref is not None:
            self.compared = True
        for start in range(0, len(targets), _BLOCK):
            end = min(start + _BLOCK, len(targets))
            q = log_softmax(model[start:end])
            chosen = q[np.arange(end - start), targets[start:end]]
            self.nll -= float(np.sum(chosen, dtype=np.float64))
            if ref is not None:
                p = log_softmax(ref[start:end])
                self.agree += int(np.count_nonzero(p.argmax(-1) == q.argmax(-1)))
                q -= p  # now log q - log p
                np.exp(p, out=p)
                q *= p  # p (log q - log p)
                self.kl -= float(np.sum(q, dtype=np.float64))
        self.count += len(targets)

    def scores(self) -> Scores:
        ppl = math.exp(self.nll / self.count)
        if not self.compared:
            return Scores(ppl)
        return Scores(ppl, self.kl / self.count, self.agree / self.count)


def scores(logits: Any, ids: list[int], reference: Any = None) -> Scores:
    """Scores of logits [≥ len(ids) - 1, vocab] for ``ids`` (row i predicts ids[i + 1]); with a
    reference's logits, KL and top-1 against it too."""
    targets = np.asarray(ids[1:], dtype=np.int64)
    tally = Tally()
    for start in range(0, len(targets), ROWS):
        end = min(start + ROWS, len(targets))
        tally.add(logits[start:end], targets[start:end],
                  None if reference is None else reference[start:end])  # fmt: skip
    return tally.scores()


def change_pct(ppl: float, reference_ppl: float) -> float:
    return round(100.0 * (ppl / reference_ppl - 1.0), 2)
