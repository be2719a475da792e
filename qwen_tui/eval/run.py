"""Evaluate a loaded engine on texts, through the prompt path and the decode path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .metrics import change_pct, scores

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
    KL divergence and top-1 agreement."""
    results = []
    for text in texts:
        if on_text:
            on_text(text.name)
        ids = engine.encode_text(text.content)[:tokens]
        if len(ids) < 2:
            raise UsageError(f"{text.name} has fewer than 2 tokens.", "Use a longer text.")
        ref_logits = reference.logits(ids) if reference is not None else None
        row: dict[str, Any] = {"name": text.name, "tokens": len(ids)}
        if ref_logits is not None:
            row["reference_ppl"] = round(scores(ref_logits, ids).ppl, 6)
        for path in paths:
            got = scores(engine.score(ids, path), ids, ref_logits)
            row[path] = got.to_dict()
            if ref_logits is not None:
                row[path]["change_pct"] = change_pct(got.ppl, row["reference_ppl"])
        results.append(row)
    return {"tokens": tokens, "texts": results}


def worst_change(result: dict, path: str = "prompt") -> float | None:
    changes = [t[path]["change_pct"] for t in result["texts"] if "change_pct" in t.get(path, {})]
    return max(changes) if changes else None
