"""The float model a quantized one is measured against: a Hugging Face folder or a GGUF file,
run by transformers in float32 (no bigdl-llm, none of our kernels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError


class Reference:
    def __init__(self, path: Path, trust_remote_code: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.model, self.tokenizer = _load(self.path, trust_remote_code)

    def logits(self, ids: list[int]) -> Any:
        import torch

        with torch.inference_mode():
            return self.model(input_ids=torch.tensor([ids])).logits[0].float()

    def close(self) -> None:
        self.model = None


def _load(path: Path, trust_remote_code: bool) -> tuple[Any, Any]:
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
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from ..engine.models import load_tokenizer, register
    from ..remote_code import needs_remote_code

    register()
    remote = needs_remote_code(config)
    if remote and not trust_remote_code:
        raise UsageError(
            f"{path} needs to run its own Python code to be a reference, and qwen-tui runs none.",
            "Measure against a model qwen-tui has the code for (Qwen-1, Qwen2, Qwen3).",
        )
    hf_logging.disable_progress_bar()  # "Loading checkpoint shards" would cover the terminal
    model = AutoModelForCausalLM.from_pretrained(
        str(path), torch_dtype=torch.float32, trust_remote_code=remote, local_files_only=True
    )
    tokenizer = load_tokenizer(path, str(config.get("model_type")), remote)
    return model.eval(), tokenizer
