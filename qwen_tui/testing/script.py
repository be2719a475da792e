"""Teach a tiny random model to write one fixed reply (for tests of how replies end).

Every token of the reply is a distinct input: its embedding row becomes a column of a random
orthonormal basis (scaled to unit RMS, so the norms leave it about as it is), and the output
head maps that column onto the next token by a wide margin (a logit of ~64, the rest ~0). The
layers keep their small random weights, so every layer still runs, quantized, in our decoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def teach_chain(model: Any, chain: list[int]) -> None:
    """After ``chain[i]`` the model (a transformers model) writes ``chain[i + 1]``, for every
    i."""
    teach_chains(model, [chain])


def teach_chains(model: Any, chains: list[list[int]]) -> None:
    """``teach_chain`` for several chains at once: a reply for each way a prompt may end (no
    token may lead on in two of them)."""
    import torch

    pairs = _pairs(chains)
    basis, _ = torch.linalg.qr(torch.randn(model.config.hidden_size, len(pairs)))
    embed, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    with torch.no_grad():  # numpy views of the tensors: written in place
        _write_pairs(embed.detach().numpy(), head.detach().numpy(), pairs, basis.numpy())


def teach_chain_arrays(
    embed: np.ndarray, head: np.ndarray, chain: list[int], rng: np.random.Generator
) -> None:
    """``teach_chain`` on a checkpoint's own arrays (embedding [vocab, hidden] and an untied
    head [vocab, hidden]), in place, for models built without transformers."""
    basis, _ = np.linalg.qr(rng.standard_normal((embed.shape[1], len(_inputs(chain)))))
    write_chain(embed, head, chain, basis.astype(embed.dtype))


def write_chain(embed: np.ndarray, head: np.ndarray, chain: list[int], basis: np.ndarray) -> None:
    """Token ``chain[i]``'s embedding is basis column i at unit RMS; the head maps it onto
    ``chain[i + 1]``; every other row of the head is zero."""
    _write_pairs(embed, head, _pairs([chain]), basis)


def _write_pairs(
    embed: np.ndarray, head: np.ndarray, pairs: list[tuple[int, int]], basis: np.ndarray
) -> None:
    hidden = embed.shape[1]
    head[...] = 0
    for i, (token, after) in enumerate(pairs):
        embed[token] = basis[:, i] * hidden**0.5
        head[after] += basis[:, i] * 8.0


def _inputs(chain: list[int]) -> list[int]:
    return [token for token, _ in _pairs([chain])]


def _pairs(chains: list[list[int]]) -> list[tuple[int, int]]:
    """(token, the token after it) of every chain; ValueError if a token leads on twice."""
    pairs = [(c[i], c[i + 1]) for c in chains for i in range(len(c) - 1)]
    inputs = [token for token, _ in pairs]
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"the chain repeats a token: {chains}")
    return pairs
