"""Perplexity, KL divergence and top-1 agreement from logits, in chunks of positions (a
512-position chunk of Qwen's 151,936 logits is 311 MB in float32)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

ROWS = 64  # positions reduced at a time


@dataclass(frozen=True)
class Scores:
    ppl: float
    kl: float | None = None  # mean KL(reference || model), nats
    top1: float | None = None  # fraction of positions whose most likely token matches

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def nll_sum(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Summed negative log-likelihood of ``targets`` under [n, vocab] logits."""
    total = 0.0
    for i in range(0, logits.shape[0], ROWS):
        part = torch.log_softmax(logits[i : i + ROWS].float(), dim=-1)
        total -= part.gather(1, targets[i : i + ROWS, None]).sum().item()
    return total


def scores(logits: torch.Tensor, ids: list[int], reference: torch.Tensor | None = None) -> Scores:
    """Scores of logits for ``ids`` (row i predicts ids[i + 1]); with a reference's logits,
    KL and top-1 against it too."""
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
