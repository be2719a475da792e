"""The quality check ``quantize`` runs while the source is still on disk: the default texts
through the prompt path, against the float source; the result goes into the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .run import default_texts, evaluate, worst_change

TOKENS = 512


def measure_quality(
    model_dir: Path, reference: Path, threads: int | None = None, trust_remote_code: bool = False
) -> dict:
    from ..engine.open import open_engine
    from ..engine.runtime.torch_thread import torch_thread
    from .reference import Reference

    engine = open_engine(model_dir, threads=threads, kv_cache_mb=0)
    engine.load()
    try:
        ref = torch_thread.run(lambda: Reference(reference, trust_remote_code))
        try:
            result = evaluate(engine, default_texts(), TOKENS, _OnTorchThread(ref), ("prompt",))
        finally:
            torch_thread.run(ref.close)
    finally:
        engine.unload()
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


class _OnTorchThread:
    """A reference whose forward runs on the torch thread, like the engine's."""

    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def logits(self, ids: list[int]) -> Any:
        from ..engine.runtime.torch_thread import torch_thread

        return torch_thread.run(lambda: self.ref.logits(ids))


def describe(quality: dict | None) -> str:
    """One phrase for `models` and the wizard: "quality: perplexity +1.2 % vs source"."""
    if not quality or quality.get("worst_change_pct") is None:
        return ""
    return f"quality: perplexity {quality['worst_change_pct']:+.1f} % vs source"
