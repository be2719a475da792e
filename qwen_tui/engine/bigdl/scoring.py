"""The logits of every position of a text, for perplexity (``eval``, the quality check):
through the prompt path (one pass) or the decode path (one token at a time on a growing
cache), all at once or a chunk of positions at a time (only that chunk's [rows, vocab] logits
in memory). Every call runs on the torch thread, as the engine's do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ..generate.loop import CausalLM
from ..runtime.torch_thread import torch_thread


def score(lm: CausalLM, ids: list[int], path: str) -> Any:
    """[len(ids), vocab] logits."""
    import torch

    return torch.cat(list(score_chunks(lm, ids, path, len(ids))))


def score_chunks(lm: CausalLM, ids: list[int], path: str, rows: int) -> Iterator[Any]:
    """[≤ rows, vocab] logits of ``rows`` positions at a time, in order."""
    if path == "prompt":
        hidden = _on_torch_thread(partial(lm.all_hidden, ids))
        for start in range(0, len(ids), rows):
            yield _on_torch_thread(partial(lm.head_logits, hidden[start : start + rows]))
        return
    past = None
    for start in range(0, len(ids), rows):
        chunk, past = _on_torch_thread(partial(_decode, lm, ids[start : start + rows], past))
        yield chunk


def _decode(lm: CausalLM, ids: list[int], past: Any) -> tuple[Any, Any]:
    import torch

    logits = []
    for token in ids:
        row, past = lm.step([token], past)
        logits.append(row[0])
    return torch.stack(logits), past


def _on_torch_thread(work: Callable[[], Any]) -> Any:
    import torch

    def run() -> Any:
        with torch.inference_mode():
            return work()

    return torch_thread.run(run)
