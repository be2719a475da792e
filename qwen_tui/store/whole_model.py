"""The whole-model path of quantizing, for what the streaming quantizer does not read: a folder
that runs its own code (trusted with --trust-remote-code) or holds only ``.bin`` files. The
float model is loaded with transformers, quantized layer by layer in place
(``engine/bigdl/lowbit``) and saved with its layout. It needs the whole float32 model in
memory; every other source goes through ``stream.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..recipes import RECIPES
from .progress import Progress, ProgressCallback

STEPS = 5


def quantize_and_save(
    src: Path,
    tmp: Path,
    low_bit: str,
    remote_code: bool,
    family: str,
    on_layer: Callable[[int, int], None],
    progress: ProgressCallback,
) -> dict:
    from ..engine.bigdl.lowbit import io as lowbit_io

    model, layout = _load_and_quantize(src, low_bit, remote_code, family, on_layer)
    progress(Progress("save", 2, STEPS, detail="saving"))
    lowbit_io.save(model, layout, tmp)
    return layout


def _load_and_quantize(
    src: Path, low_bit: str, remote_code: bool, family: str, on_layer: Callable[[int, int], None]
) -> tuple[Any, dict]:
    import torch
    from transformers import AutoModelForCausalLM

    from ..engine.bigdl.lowbit.build import quantize_model
    from ..engine.runtime.quiet import bigdl_auto_model

    bigdl_auto_model()  # imports bigdl-llm once, without its logging side effects
    model = AutoModelForCausalLM.from_pretrained(
        str(src),
        trust_remote_code=remote_code,
        torch_dtype=torch.float32,
        local_files_only=True,
        # Qwen-1 code on CPU: flash-attn, which bf16 configs switch on, is not for us.
        **({"use_flash_attn": False} if family == "qwen" else {}),
    )
    model.eval()
    with torch.inference_mode():
        layout = quantize_model(model, RECIPES[low_bit], on_layer)
    return model, layout
