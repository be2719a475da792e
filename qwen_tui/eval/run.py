"""Evaluate a loaded engine on texts, through the prompt path and the decode path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from .metrics import ROWS, Tally, change_pct

TEXTS = Path(__file__).parent / "texts"
DEFAULT_TEXTS = ("english", "code", "chinese")
PATHS = ("prompt", "decode")


@dataclass(frozen=True)
class Text:
    name: str
    content: str


def default_texts() -> list[Text]:
    return [Text(n, (TEXTS / f"{n}.txt").read_text(encoding="utf-8")) for n in DEFAULT_TEXTS]


def read_texts(files: list[str]) -> list[Text]:
    out = []
    for file in files:
        path = Path(file).expanduser()
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"Cannot read {path} as UTF-8 text ({type(exc).__name__}).", "Pass a text file."
            ) from None
        out.append(Text(path.name, content))
    return out


def evaluate(
    engine: Any,
    texts: list[Text],
    tokens: int = 512,
    reference: Any = None,
    paths: tuple[str, ...] = PATHS,
    on_text: Callable[[str], None] | None = None,
) -> dict:
    """Per text: perplexity on each path, and with a reference its perplexity, the change,
    KL divergence and top-1 agreement. Both sides give their logits ROWS positions at a time
    and are scored as they come: no [positions, vocab] matrix of either is ever whole."""
    results = []
    for text in texts:
        if on_text:
            on_text(text.name)
        ids = engine.encode_text(text.content)[:tokens]
        if len(ids) < 2:
            raise UsageError(f"{text.name} has fewer than 2 tokens.", "Use a longer text.")
        targets = np.asarray(ids[1:], dtype=np.int64)
        ref_chunks = chunks_of(reference, ids) if reference is not None else None
        got = {path: chunks_of(engine, ids, path) for path in paths}
        ref_tally, tallies = Tally(), {path: Tally() for path in paths}
        try:
            _score_text(targets, ref_chunks, got, ref_tally, tallies)
        finally:  # a decode path's cache goes now, not when the next text starts
            for chunks in (ref_chunks, *got.values()):
                getattr(chunks, "close", lambda: None)()
        row: dict[str, Any] = {"name": text.name, "tokens": len(ids)}
        if ref_chunks is not None:
            row["reference_ppl"] = round(ref_tally.scores().ppl, 6)
        for path in paths:
            scored = tallies[path].scores()
            row[path] = scored.to_dict()
            if ref_chunks is not None:
                row[path]["change_pct"] = change_pct(scored.ppl, row["reference_ppl"])
        results.append(row)
    return {"tokens": tokens, "texts": results}


def _score_text(
    targets: np.ndarray,
    ref_chunks: Iterator[Any] | None,
    got: dict[str, Iterator[Any]],
    ref_tally: Tally,
    tallies: dict[str, Tally],
) -> None:
    for start in range(0, len(targets), ROWS):
        wanted = targets[start : start + ROWS]
        ref = next(ref_chunks)[: len(wanted)] if ref_chunks is not None else None
        if ref is not None:
            ref_tally.add(ref, wanted)
        for path, chunks in got.items():
            mine = next(chunks)[: len(wanted)]
            if ref is not None and mine.shape[-1] != ref.shape[-1]:
                raise UsageError(
                    f"The reference scores {ref.shape[-1]} tokens and the model "
                    f"{mine.shape[-1]}: it is not the model this one was quantized from.",
                    "Pass the float model it was quantized from.",
                )
            tallies[path].add(mine, wanted, ref)


def chunks_of(scorer: Any, ids: list[int], path: str | None = None) -> Iterator[Any]:
    """The logits of every position of ``ids``, ROWS at a time: from an engine (``path`` is
    "prompt" or "decode") or a reference (``path`` None). One that only gives the whole matrix
    (``score`` / ``logits``) is sliced."""
    if path is None:
        if hasattr(scorer, "logit_chunks"):
            return iter(scorer.logit_chunks(ids, ROWS))
        whole = scorer.logits(ids)
    else:
        if hasattr(scorer, "score_chunks"):
            return iter(scorer.score_chunks(ids, path, ROWS))
        whole = scorer.score(ids, path)
    return (whole[start : start + ROWS] for start in range(0, len(ids), ROWS))


def worst_change(result: dict, path: str = "prompt") -> float | None:
    changes = [t[path]["change_pct"] for t in result["texts"] if "change_pct" in t.get(path, {})]
    return max(changes) if changes else None
