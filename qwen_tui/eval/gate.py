"""The quality check ``quantize`` runs while the source is still on disk: the default texts
through the prompt path, against the float source; the result goes into the manifest."""

from __future__ import annotations

from pathlib import Path

from ..sizes import CHECK_TOKENS
from .run import default_texts, evaluate, worst_change

TOKENS = CHECK_TOKENS


def measure_quality(model_dir: Path, reference: Path, threads: int | None = None) -> dict:
    """The stored model in ``model_dir`` against the float model it came from (a folder or a
    GGUF file), computed from the source one weight at a time (``float_reference.py``)."""
    from ..engine.open import open_engine
    from .float_reference import open_reference

    ref = open_reference(reference)  # a bad reference is said before the model is loaded
    try:
        engine = open_engine(model_dir, threads=threads, kv_cache_mb=0)
        engine.load()
        try:
            result = evaluate(engine, default_texts(), TOKENS, ref, ("prompt",))
        finally:
            engine.unload()
    finally:
        ref.close()
    return {
        "reference": str(reference),
        "tokens": TOKENS,
        "texts": {
            t["name"]: {
                "ppl": t["prompt"]["ppl"],
                "reference_ppl": t["reference_ppl"],
                "change_pct": t["prompt"]["change_pct"],
                "kl": t["prompt"]["kl"],
                "top1": t["prompt"]["top1"],
            }
            for t in result["texts"]
        },
        "worst_change_pct": worst_change(result),
    }


def describe(quality: dict | None) -> str:
    """One phrase for `models` and the wizard: "quality: perplexity +1.2 % vs source"."""
    if not quality or quality.get("worst_change_pct") is None:
        return ""
    return f"quality: perplexity {quality['worst_change_pct']:+.1f} % vs source"
