"""Model code that transformers 4.37.2 (the version bigdl-llm 2.5 is verified with) lacks.

``register()`` makes ``AutoConfig`` and ``AutoModelForCausalLM`` know these architectures, so
quantizing, saving and loading low-bit models goes through the same paths as for Qwen2. It is
idempotent and cheap; every place that builds a model from a folder calls it first.
"""

from __future__ import annotations

_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoTokenizer,
        Qwen2Tokenizer,
        Qwen2TokenizerFast,
    )

    from .qwen3 import Qwen3Config, Qwen3ForCausalLM

    AutoConfig.register("qwen3", Qwen3Config, exist_ok=True)
    AutoModelForCausalLM.register(Qwen3Config, Qwen3ForCausalLM, exist_ok=True)
    # Qwen3 ships Qwen2's tokenizer; a folder that does not name it still gets it
    AutoTokenizer.register(Qwen3Config, Qwen2Tokenizer, Qwen2TokenizerFast, exist_ok=True)
    _registered = True
