"""Perplexity, KL divergence and top-1 agreement from logits, in chunks of positions (a
512-position chunk of Qwen's 151,936 logits is 311 MB in float32). Logits come as torch tensors
(bigdl-llm's engine, the reference) or numpy arrays (the native engine's ``score``): the same
arithmetic runs on both, on the same memory."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

ROWS = 64  # positions reduced at a time


@dataclass(frozen=True)
class Scores:
    ppl: float
    kl: float | None = None  # mean KL(reference || model), nats
    top1: float | None = None  # fraction of positions whose most likely token matches

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def as_tensor(logits: Any) -> torch.Tensor:
    """A tensor over the same memory (no copy) for a numpy array; a tensor as it is."""
    return torch.from_numpy(logits) if isinstance(logits, np.ndarray) else logits


def nll_sum(logits: Any, targets: torch.Tensor) -> float:
    """Summed negative log-likelihood of ``targets`` under [n, vocab] logits."""
    logits = as_tensor(logits)
    total = 0.0
    for i in range(0, logits.shape[0], ROWS):
        part = torch.log_softmax(logits[i : i + ROWS].float(), dim=-1)
        total -= part.gather(1, targets[i : i + ROWS, None]).sum().item()
    return total


def scores(logits: Any, ids: list[int], reference: Any = None) -> Scores:
    """Scores of logits for ``ids`` (row i predicts ids[i + 1]); with a reference's logits,
    KL and top-1 against it too (each a tensor or a numpy array)."""
    logits = as_tensor(logits)
    reference = None if reference is None else as_tensor(reference)
    targets = torch.tensor(ids[1:], dtype=torch.long)
    n = len(targets)
    ppl = math.exp(nll_sum(logits[:n], targets) / n)
    if reference is None:
        return Scores(ppl)
    kl = 0.0
    agree = 0
    for i in range(0, n, ROWS):
        p = torch.log_softmax(reference[i : min(i + ROWS, n)].float(), dim=-1)
        q = torch.log_softmax(logits[i : min(i + ROWS, n)].float(), dim=-1)
        kl += (p.exp() * (p - q)).sum().item()
        agree += int((p.argmax(-1) == q.argmax(-1)).sum())
    return Scores(ppl, kl / n, agree / n)


def change_pct(ppl: float, reference_ppl: float) -> float:
    return round(100.0 * (ppl / reference_ppl - 1.0), 2)
