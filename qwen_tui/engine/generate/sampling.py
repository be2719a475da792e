"""Choosing the next token: repetition penalty, temperature, top-k, top-p, seed.

The same rules as transformers' logits processors in the same order (repetition penalty,
temperature, top-k, top-p), but top-p and the draw work on the top-k candidates only: sorting
and sampling all 151,936 logits cost about 8 ms per token, more than a third of a decoded
token of a 0.5B model. Without top-k, top-p sorts the whole vocabulary as before.

This is the torch sampler of the torch engine; ``native_sampling.NativeSampler`` draws from the
same distribution in C, on numpy arrays, without torch.
"""

from __future__ import annotations

from typing import Any

from ..types import GenerationParams
from .native_sampling import SamplingRules


class Sampler:
    def __init__(self, params: GenerationParams) -> None:
        import torch

        self.torch = torch
        rules = SamplingRules.of(params)
        self.greedy = rules.greedy
        self.penalty = rules.penalty
        self.temperature = rules.temperature
        self.top_k = rules.top_k
        self.top_p = rules.top_p
        self.generator = torch.Generator()
        if rules.seed is not None:
            self.generator.manual_seed(rules.seed)
        else:
            self.generator.seed()

    def _penalized(self, input_ids: Any, logits: Any) -> Any:
        """transformers' RepetitionPenaltyLogitsProcessor: seen tokens' logits divided by the
        penalty where positive, multiplied where negative."""
        torch = self.torch
        scores = logits.float().clone()
        if self.penalty is None or input_ids.numel() == 0:
            return scores
        seen = input_ids.reshape(1, -1)
        picked = torch.gather(scores, 1, seen)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter_(1, seen, picked)

    def next_token(self, input_ids: Any, logits: Any) -> int:
        """``input_ids`` [1, n] so far, ``logits`` [1, vocab] for the next position."""
        torch = self.torch
        scores = self._penalized(input_ids, logits)
        if self.greedy:
            return int(torch.argmax(scores, dim=-1)[0])
        scores = scores / self.temperature
        if self.top_k:
            values, indices = torch.topk(scores[0], min(self.top_k, scores.shape[-1]))
        else:
            values, indices = torch.sort(scores[0], descending=True)
        if self.top_p is not None:
            probs = torch.softmax(values, dim=-1)
            # transformers drops the tokens whose cumulative mass, smallest first, stays at or
            # below 1 - top_p; the most likely token always stays
            below = torch.cumsum(probs.flip(0), dim=0).flip(0) <= 1 - self.top_p
            keep = ~below
            keep[0] = True
            values = values.masked_fill(~keep, float("-inf"))
        probs = torch.softmax(values, dim=-1)
        choice = torch.multinomial(probs, 1, generator=self.generator)
        return int(indices[choice[0]])
