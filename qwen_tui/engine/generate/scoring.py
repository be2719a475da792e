"""The logits of every position of a text, for perplexity (``eval``, the quality check), a chunk
of positions at a time: through the prompt path (one pass; only that chunk's [rows, vocab]
logits in memory) or the decode path (one token at a time on a growing cache). Every call runs
on the one compute thread, as the engine's replies do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ..runtime.torch_thread import torch_thread
from .loop import TokenLoop


def score_chunks(lm: TokenLoop, ids: list[int], path: str, rows: int) -> Iterator[Any]:
    """[≤ rows, vocab] logits of ``rows`` positions at a time, in order."""
    if path == "prompt":
        hidden = _on_thread(lm, partial(lm.all_hidden, ids))
        for start in range(0, len(ids), rows):
            yield _on_thread(lm, partial(lm.head_logits, hidden[start : start + rows]))
        return
    past = None
    for start in range(0, len(ids), rows):
        chunk, past = _on_thread(lm, partial(_decode, lm, ids[start : start + rows], past))
        yield chunk


def _decode(lm: TokenLoop, ids: list[int], past: Any) -> tuple[Any, Any]:
    logits = []
    for token in ids:
        row, past = lm.step([token], past)
        logits.append(row[0])
    return lm._stack(logits), past


def _on_thread(lm: TokenLoop, work: Callable[[], Any]) -> Any:
    def run() -> Any:
        with lm._running():
            return work()

    return torch_thread.run(run)
