"""The float model a quantized one is measured against: a Hugging Face folder or a GGUF file,
run by transformers in float32 (no bigdl-llm, none of our kernels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError


class Reference:
    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self.model, self.tokenizer = _load(self.path)

    def logits(self, ids: list[int]) -> Any:
        import torch

        with torch.inference_mode():
            return self.model(input_ids=torch.tensor([ids])).logits[0].float()

    def close(self) -> None:
        self.model = None


def _load(path: Path) -> tuple[Any, Any]:
    import torch

    from ..store.gguf_import import is_gguf, load_float_model

    if path.is_file() and is_gguf(path):
        return load_float_model(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise UsageError(
            f"{path} is not a float model (no config.json, not a GGUF file).",
            "Pass the folder or .gguf file the model was quantized from.",
        )
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("bigdl_transformers_low_bit") or (path / "qwen-tui-lowbit.json").is_file():
        raise UsageError(f"{path} is a quantized model.", "Pass the float model it came from.")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ..engine.models import register

    register()

    hf_logging.disable_progress_bar()  # "Loading checkpoint shards" would cover the terminal
    remote = bool(config.get("auto_map"))
    extra = {"use_flash_attn": False} if config.get("model_type") == "qwen" else {}
    model = AutoModelForCausalLM.from_pretrained(
        str(path), torch_dtype=torch.float32, trust_remote_code=remote, local_files_only=True,
        **extra,
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(
        str(path), trust_remote_code=remote, local_files_only=True
    )
    return model.eval(), tokenizer
