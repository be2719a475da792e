"""Model code of our own, so that no model repo's code ever runs (Qwen-1), and model code that
transformers 4.37.2 (the version bigdl-llm 2.5 is verified with) lacks (Qwen3).

``register()`` makes ``AutoConfig`` and ``AutoModelForCausalLM`` know these architectures, so
quantizing, saving and loading low-bit models goes through the same paths as for Qwen2. It is
idempotent and cheap; every place that builds a model from a folder calls it first.
``load_tokenizer`` gives each family its tokenizer: ours for Qwen-1 (tiktoken) and, without
transformers, for Qwen2, Qwen3 and Qwen3.5 (``engine/tokenizer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

    from .qwen1 import QWenConfig, QWenLMHeadModel
    from .qwen3 import Qwen3Config, Qwen3ForCausalLM

    # Qwen-1: a folder's auto_map (its remote code) is then never needed nor, untrusted, run
    AutoConfig.register("qwen", QWenConfig, exist_ok=True)
    AutoModelForCausalLM.register(QWenConfig, QWenLMHeadModel, exist_ok=True)
    AutoConfig.register("qwen3", Qwen3Config, exist_ok=True)
    AutoModelForCausalLM.register(Qwen3Config, Qwen3ForCausalLM, exist_ok=True)
    # Qwen3 ships Qwen2's tokenizer; a folder that does not name it still gets it
    AutoTokenizer.register(Qwen3Config, Qwen2Tokenizer, Qwen2TokenizerFast, exist_ok=True)
    _registered = True


def load_tokenizer(folder: Path, family: str, trust_remote_code: bool = False) -> Any:
    """The tokenizer of a model folder. Ours for Qwen-1 (from ``qwen.tiktoken``) and for Qwen2,
    Qwen3 and Qwen3.5 (``tokenizers`` over ``tokenizer.json``, as transformers reads it);
    transformers' for a folder with no ``tokenizer.json`` (a slow tokenizer, which it
    converts), one naming a tokenizer class of its own, or one whose code runs
    (``trust_remote_code``, which remote_code.py decides: only then does code in the folder
    run)."""
    if not trust_remote_code:
        if family == "qwen":
            from .qwen1_tokenizer import Qwen1Tokenizer

            return Qwen1Tokenizer.from_folder(folder)
        from ..tokenizer import ChatTokenizer, reads_folder

        if family in ("qwen2", "qwen3", "qwen35") and reads_folder(folder):
            return ChatTokenizer.from_folder(folder)
    from transformers import AutoTokenizer

    register()
    return AutoTokenizer.from_pretrained(
        str(folder), trust_remote_code=trust_remote_code, local_files_only=True
    )
