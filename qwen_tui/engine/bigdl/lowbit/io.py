"""Save a quantized model (``build.py``) into a folder and load it back.

The folder holds the config, ``model.safetensors`` (bigdl-llm's bytes for every low-bit layer
and the embedding table, float32 for norms and biases) and ``qwen-tui-lowbit.json``: which
format each layer is in and how the embedding is kept. Loading mirrors bigdl-llm's
``load_low_bit``: an empty model from the config, bigdl-llm's ``_optimize_pre`` (Qwen-1's
q/k/v split), a ``LowBitLinear`` of the recorded format for each layer, the tensors, then
bigdl-llm's ``_optimize_post`` (its CPU forwards, which our patches build on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...kernels.formats import FORMATS
from . import LAYOUT_FILE
from .build import _set, low_bit_linear
from .embedding import QuantizedEmbedding

WEIGHTS = "model.safetensors"


class LayoutError(ValueError):
    """The folder's layout and weights do not agree (a damaged or foreign folder)."""


def is_lowbit_folder(folder: Path) -> bool:
    return (Path(folder) / LAYOUT_FILE).is_file()


def save(model: Any, layout: dict, folder: Path) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    model.config.save_pretrained(str(folder))
    if getattr(model, "generation_config", None) is not None and model.can_generate():
        model.generation_config.save_pretrained(str(folder))
    (folder / LAYOUT_FILE).write_text(json.dumps(layout, indent=2), encoding="utf-8")


def read_layout(folder: Path) -> dict:
    try:
        layout = json.loads((Path(folder) / LAYOUT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LayoutError(f"{LAYOUT_FILE} is unreadable ({exc})") from None
    if not isinstance(layout.get("modules"), dict) or any(
        fmt not in FORMATS for fmt in layout["modules"].values()
    ):
        raise LayoutError(f"{LAYOUT_FILE} names a format qwen-tui does not know")
    return layout


def _model_class(config: Any, folder: Path, trust_remote_code: bool) -> Any:
    from transformers import AutoModelForCausalLM

    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and "AutoModelForCausalLM" in auto_map:
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        return get_class_from_dynamic_module(auto_map["AutoModelForCausalLM"], str(folder))
    return AutoModelForCausalLM._model_mapping[type(config)]


def load(folder: Path, *, trust_remote_code: bool = False) -> Any:
    """The model saved in ``folder``, ready for bigdl-llm's and our forwards."""
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device
    from bigdl.llm.transformers.convert import _optimize_post, _optimize_pre
    from safetensors.torch import load_file
    from transformers import AutoConfig, GenerationConfig
    from transformers.modeling_utils import no_init_weights

    from ...models import register

    register()
    folder = Path(folder)
    layout = read_layout(folder)
    config = AutoConfig.from_pretrained(
        str(folder), trust_remote_code=trust_remote_code, local_files_only=True
    )
    model_class = _model_class(config, folder, trust_remote_code)
    with init_empty_weights(), no_init_weights():
        model = model_class(config)
    model = _optimize_pre(model)
    state = load_file(str(folder / WEIGHTS))
    for name, fmt in layout["modules"].items():
        try:
            layer = model.get_submodule(name)
            data = state.pop(f"{name}.weight")
        except (AttributeError, KeyError):
            raise LayoutError(f"{name} is in {LAYOUT_FILE} but not in the model") from None
        bias = state.pop(f"{name}.bias", None)
        bias = None if bias is None else bias.clone()
        _set(model, name, low_bit_linear(layer.in_features, layer.out_features, fmt, data, bias))
    _load_embedding(model, layout.get("embedding") or {}, state)
    for key, value in state.items():
        # a copy: safetensors maps the file, and one tensor still pointing into the mapping
        # keeps all of it resident after the low-bit bytes are regrouped into new buffers
        set_module_tensor_to_device(model, key, "cpu", value=value.clone())
    left = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if left:
        raise LayoutError(f"{WEIGHTS} has no {left[0]}")
    model = _optimize_post(model)
    try:
        model.generation_config = GenerationConfig.from_pretrained(str(folder))
    except (OSError, TypeError, ValueError):
        pass
    return model.eval().requires_grad_(False)


def _load_embedding(model: Any, spec: dict, state: dict) -> None:
    table = model.get_input_embeddings()
    if table is None or "format" not in spec:
        return
    name = next(n for n, m in model.named_modules() if m is table)
    shared = spec.get("shared_with")
    if shared:
        head = model.get_submodule(shared)
        new = QuantizedEmbedding(
            table.num_embeddings, table.embedding_dim, FORMATS[spec["format"]], shared=head
        )
    else:
        try:
            data = state.pop(f"{name}.weight")
        except KeyError:
            raise LayoutError(f"{WEIGHTS} has no {name}.weight") from None
        new = QuantizedEmbedding(
            table.num_embeddings, table.embedding_dim, FORMATS[spec["format"]], data=data
        )
    model.set_input_embeddings(new)
