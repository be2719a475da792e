"""The sampler draws from exactly the distribution transformers' logits processors give."""

import pytest
import torch
from transformers import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from qwen_tui.engine.generate.sampling import Sampler
from qwen_tui.engine.types import GenerationParams


def transformers_distribution(params, ids, logits):
    steps = [RepetitionPenaltyLogitsProcessor(params.repetition_penalty)]
    steps.append(TemperatureLogitsWarper(params.temperature))
    if params.top_k:
        steps.append(TopKLogitsWarper(params.top_k))
    if params.top_p is not None:
        steps.append(TopPLogitsWarper(params.top_p))
    return torch.softmax(LogitsProcessorList(steps)(ids, logits.clone()), -1)[0]


@pytest.mark.parametrize("top_k", [0, 1, 20, 400])
@pytest.mark.parametrize("top_p", [None, 0.5, 0.8, 0.99])
def test_the_draw_follows_transformers_rules(top_k, top_p):
    torch.manual_seed(top_k * 7 + int(100 * (top_p or 0)))
    logits = torch.randn(1, 500) * 3
    ids = torch.randint(0, 500, (1, 40))
    params = GenerationParams(temperature=0.7, top_p=top_p, top_k=top_k, repetition_penalty=1.1)
    expected = transformers_distribution(params, ids, logits)
    sampler = Sampler(GenerationParams(**{**params.to_dict(), "seed": 3}))
    counts = torch.zeros(500)
    for _ in range(3000):
        counts[sampler.next_token(ids, logits)] += 1
    assert set(counts.nonzero().flatten().tolist()) <= set(expected.nonzero().flatten().tolist())
    # every likely token is drawn about as often as its probability says
    likely = expected > 0.05
    assert torch.allclose(counts[likely] / 3000, expected[likely], atol=0.03)


def test_greedy_takes_the_penalized_argmax_and_seeds_repeat():
    logits = torch.tensor([[5.0, 4.9, 1.0, -2.0]])
    seen = torch.tensor([[0]])
    assert (
        Sampler(GenerationParams(temperature=0, repetition_penalty=1.2)).next_token(seen, logits)
        == 1
    )  # 5.0 / 1.2 falls below 4.9

    # a seed repeats a whole sequence of draws, and another seed gives another sequence (from
    # 200 draws over tokens of about 50/50, the same sequence by chance is 2^-200)
    def draws(seed):
        sampler = Sampler(GenerationParams(temperature=1.0, top_k=3, seed=seed))
        return [sampler.next_token(seen, logits) for _ in range(200)]

    first = draws(11)
    assert first == draws(11) and first != draws(12)
    assert 40 < first.count(0) < 160 and 40 < first.count(1) < 160  # both are drawn
