"""Choosing the next token: repetition penalty, temperature, top-k, top-p, seed."""

from __future__ import annotations

from typing import Any

from .base import GenerationParams


class Sampler:
    def __init__(self, params: GenerationParams) -> None:
        import torch
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        self.torch = torch
        self.greedy = not params.temperature or params.temperature <= 0
        steps: list[Any] = []
        if params.repetition_penalty and params.repetition_penalty != 1.0:
            steps.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
        if not self.greedy:
            steps.append(TemperatureLogitsWarper(float(params.temperature)))
            if params.top_k and params.top_k > 0:
                steps.append(TopKLogitsWarper(int(params.top_k)))
            if params.top_p is not None and 0 < params.top_p < 1:
                steps.append(TopPLogitsWarper(float(params.top_p)))
        self.processors = LogitsProcessorList(steps)
        self.generator = torch.Generator()
        if params.seed is not None:
            self.generator.manual_seed(int(params.seed))
        else:
            self.generator.seed()

    def next_token(self, input_ids: Any, logits: Any) -> int:
        """``input_ids`` [1, n] so far, ``logits`` [1, vocab] for the next position."""
        torch = self.torch
        scores = self.processors(input_ids, logits.float())
        if self.greedy:
            return int(torch.argmax(scores, dim=-1)[0])
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator)[0, 0])
