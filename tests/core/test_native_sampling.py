"""The C sampler (kernels.sampling.sample, NativeSampler) draws from the distribution
transformers' logits processors give, picks greedy tokens as torch's Sampler does, and repeats
a sequence for a seed."""

import random
import threading

import numpy as np
import pytest
import torch
from test_sampling import transformers_distribution
from transformers import RepetitionPenaltyLogitsProcessor

from qwen_tui.engine import kernels
from qwen_tui.engine.generate.native_sampling import NativeSampler
from qwen_tui.engine.generate.sampling import Sampler
from qwen_tui.engine.kernels.sampling import sample
from qwen_tui.engine.types import GenerationParams


@pytest.fixture
def engine(bigdl_engine):
    """The token-loop test below drives bigdl-llm's engine (its torch loop)."""
    return bigdl_engine


pytestmark = pytest.mark.skipif(not kernels.available(), reason="our kernels are not built")


@pytest.mark.parametrize("top_k", [0, 1, 20, 400])
@pytest.mark.parametrize("top_p", [None, 0.5, 0.8, 0.99])
def test_the_draw_follows_transformers_rules(top_k, top_p):
    torch.manual_seed(top_k * 7 + int(100 * (top_p or 0)))
    logits = torch.randn(1, 500) * 3
    ids = torch.randint(0, 500, (1, 40))
    params = GenerationParams(temperature=0.7, top_p=top_p, top_k=top_k, repetition_penalty=1.1)
    expected = transformers_distribution(params, ids, logits)
    sampler = NativeSampler(GenerationParams(**{**params.to_dict(), "seed": 3}))
    seen, scores = ids[0].tolist(), logits.numpy()
    counts = torch.zeros(500)
    for _ in range(3000):
        counts[sampler.next_token(seen, scores)] += 1
    assert set(counts.nonzero().flatten().tolist()) <= set(expected.nonzero().flatten().tolist())
    # every likely token is drawn about as often as its probability says
    likely = expected > 0.05
    assert torch.allclose(counts[likely] / 3000, expected[likely], atol=0.03)


def drawn_by_transformers(params, ids, logits, u, ranked):
    """The token the inverse CDF of transformers' distribution gives at each u, candidates best
    first (ranked) or in index order; None where u is within 1e-5 of a step."""
    probs = transformers_distribution(params, ids, logits).double().numpy()
    penalized = RepetitionPenaltyLogitsProcessor(params.repetition_penalty)(ids, logits.clone())
    order = np.lexsort((np.arange(probs.size), -penalized[0].numpy())) if ranked else None
    order = order if order is not None else np.arange(probs.size)
    order = order[probs[order] > 0]
    steps = np.cumsum(probs[order])
    steps /= steps[-1]
    at = np.searchsorted(steps, u, side="right")
    near = np.abs(steps[np.minimum(at, len(steps) - 1)] - u) < 1e-5
    near |= np.abs(steps[np.maximum(at - 1, 0)] - u) < 1e-5
    return [None if n else int(order[a]) for a, n in zip(at, near, strict=True)], len(order)


CASES = {  # vocab, logit scale, top_k, top_p, tokens top-p keeps at least
    "top-k and top-p": (500, 3.0, 20, 0.8, 1),
    "top-k beyond the vocabulary": (300, 1.0, 1000, 0.95, 100),
    "top-p over 256 ranked": (4000, 2.0, 0, 0.9, 257),
    "top-p over 2048 ranked": (4000, 0.3, 0, 0.9, 2049),
    "the whole vocabulary in index order": (3000, 1.0, 0, None, 3000),
}


@pytest.mark.parametrize("case", CASES)
def test_each_u_draws_the_token_transformers_inverse_cdf_gives(case):
    vocab, scale, top_k, top_p, at_least = CASES[case]
    rng = np.random.default_rng(vocab + top_k)
    logits = torch.from_numpy((rng.standard_normal((1, vocab)) * scale).astype(np.float32))
    best = int(logits.argmax())
    # the best token three times: it is penalized once, and ranked once
    seen = np.array([best, best, *rng.integers(0, vocab, 60), best], np.int64)
    params = GenerationParams(temperature=0.8, top_p=top_p, top_k=top_k, repetition_penalty=1.3)
    u = (np.arange(400) + 0.5) / 400
    ranked = bool(top_k or top_p)
    expected, kept = drawn_by_transformers(params, torch.from_numpy(seen)[None], logits, u, ranked)
    assert kept >= at_least  # the case covers what its name says
    drawn = [
        sample(logits[0].numpy(), seen, penalty=1.3, temperature=0.8, top_k=top_k,
               top_p=top_p or 1.0, u=float(x))
        for x in u
    ]  # fmt: skip
    compared = [(d, e) for d, e in zip(drawn, expected, strict=True) if e is not None]
    assert len(compared) > 300
    assert all(d == e for d, e in compared), [c for c in compared if c[0] != c[1]][:5]


def greedy_cases():
    rng = np.random.default_rng(5)
    for trial in range(60):
        vocab = int(rng.integers(1, 3000))
        logits = rng.integers(-4, 5, vocab).astype(np.float32)  # many ties
        if trial % 3:
            logits = (logits + rng.standard_normal(vocab).astype(np.float32) / 8).round(1)
        if trial % 10 == 9:
            logits[rng.integers(0, vocab, 2)] = np.nan  # torch.argmax takes the first NaN
        seen = rng.integers(0, vocab, int(rng.integers(0, 50)))
        seen = np.concatenate([seen, seen[:5], np.argsort(-logits, kind="stable")[:3]])
        yield logits, seen, [1.0, 1.2, 0.8, 1.04][trial % 4]
    yield np.array([2.0, 1.9], np.float32), np.array([0, 0]), 1.04  # penalized once: 0
    yield np.array([2.4, 2.0], np.float32), np.array([0]), 1.2  # a tie after the penalty
    yield np.array([-np.inf, -np.inf, -np.inf], np.float32), np.array([1]), 1.1
    yield np.array([1.0, np.inf, np.inf], np.float32), np.array([], np.int64), 1.0


def test_greedy_takes_the_token_torch_sampler_takes():
    for logits, seen, penalty in greedy_cases():
        params = GenerationParams(temperature=0, repetition_penalty=penalty)
        ids = torch.from_numpy(seen.astype(np.int64))[None]
        expected = Sampler(params).next_token(ids, torch.from_numpy(logits)[None])
        assert NativeSampler(params).next_token(seen.tolist(), logits) == expected
        assert sample(logits, seen.astype(np.int64), penalty=penalty) == expected
    assert sample(np.array([2.0, 1.9], np.float32), np.array([0, 0]), penalty=1.04) == 0


def test_a_seed_repeats_its_sequence_of_draws():
    logits = np.array([5.0, 4.9, 1.0, -2.0], np.float32)

    def draws(seed):
        sampler = NativeSampler(GenerationParams(temperature=1.0, top_k=3, seed=seed))
        return [sampler.next_token([0], logits) for _ in range(200)]

    first = draws(11)
    assert first == draws(11) and first != draws(12)
    assert 40 < first.count(0) < 160 and 40 < first.count(1) < 160  # both are drawn
    # the draws are the inverse CDF at random.Random(seed)'s numbers
    numbers = random.Random(11)
    assert first == [sample(logits, temperature=1.0, top_k=3, u=numbers.random()) for _ in first]


def test_the_token_loop_runs_on_it(engine):
    """The torch engine's loop accepts it (tensors in): the same greedy reply as Sampler."""
    lm, ids = engine._lm, engine._builder.encode([])
    greedy = GenerationParams(temperature=0, repetition_penalty=1.1)

    def reply(sampler):
        return lm.run(ids, sampler, 12, frozenset(), on_token=lambda t: None,
                      cancel=threading.Event()).new_ids  # fmt: skip

    assert reply(NativeSampler(greedy)) == reply(Sampler(greedy))
    seeded = GenerationParams(temperature=1.0, top_k=0, top_p=0.95, seed=4)
    assert reply(NativeSampler(seeded)) == reply(NativeSampler(seeded))


GOOD = np.zeros(10, np.float32)


@pytest.mark.parametrize(
    ("logits", "seen", "settings", "complaint"),
    [
        (GOOD.astype(np.float64), [], {}, "logits must be float32"),
        (GOOD.reshape(2, 5), [], {}, "logits must have 1 dimensions"),
        (GOOD[:0], [], {}, "logits must hold 1 to"),
        (GOOD, [10], {}, r"every value of seen must be in \[0, 10\)"),
        (GOOD, [-1], {}, r"every value of seen must be in \[0, 10\)"),
        (GOOD, [], {"penalty": 0.0}, "penalty must be a positive number"),
        (GOOD, [], {"temperature": -1.0}, "temperature must be 0 or more"),
        (GOOD, [], {"top_k": -1}, "top_k must be 0"),
        (GOOD, [], {"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        (GOOD, [], {"u": 1.0}, r"u must be in \[0, 1\)"),
        (np.array([0.0, np.nan], np.float32), [], {"temperature": 1.0}, "hold a NaN"),
        (np.array([0.0, np.inf], np.float32), [], {"temperature": 1.0}, "no finite largest"),
        (np.full(3, -np.inf, np.float32), [], {"temperature": 1.0, "top_k": 2}, "no finite"),
    ],
)
def test_arguments_that_do_not_fit_are_refused_before_c(logits, seen, settings, complaint):
    with pytest.raises(kernels.KernelError, match=complaint):
        sample(logits, np.array(seen, np.int64), **settings)


def test_the_binding_checks_its_numbers_too():
    logits, seen = np.zeros(5, np.float32), np.array([7], np.int64)
    native = kernels.library()
    args = [logits.ctypes.data, 5, 0, 0, 1.0, 1.0, 0, 1.0, 0.5]
    for at, bad in [(1, 0), (4, 0.0), (5, -1.0), (6, -1), (7, 1.5), (8, 1.0), (3, 1)]:
        with pytest.raises(ValueError, match="an argument is out of its range"):
            native.sample(*args[:at], bad, *args[at + 1 :])
    with pytest.raises(ValueError, match="a seen id is outside the vocabulary"):
        native.sample(logits.ctypes.data, 5, seen.ctypes.data, 1, 1.2, 1.0, 0, 1.0, 0.5)
