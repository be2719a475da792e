"""Teach a tiny random model to write one fixed reply (for tests of how replies end).

Every token of the reply is a distinct input: its embedding row becomes a column of a random
orthonormal basis (scaled to unit RMS, so the norms leave it about as it is), and the output
head maps that column onto the next token by a wide margin (a logit of ~64, the rest ~0). The
layers keep their small random weights, so every layer still runs, quantized, in our decoder.
"""

from __future__ import annotations

from typing import Any


def teach_chain(model: Any, chain: list[int]) -> None:
    """After ``chain[i]`` the model writes ``chain[i + 1]``, for every i."""
    import torch

    inputs = chain[:-1]
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"the chain repeats a token: {chain}")
    hidden = model.config.hidden_size
    basis, _ = torch.linalg.qr(torch.randn(hidden, len(inputs)))
    embed, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    with torch.no_grad():
        head.zero_()
        for i, token in enumerate(inputs):
            embed[token] = basis[:, i] * hidden**0.5
            head[chain[i + 1]] += basis[:, i] * 8.0
