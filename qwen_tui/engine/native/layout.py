"""What a store folder holds, read without torch: the family and its dimensions from
config.json, and every tensor of ``model.safetensors`` with its role and how it is kept, from
the family's table (``families``) and ``qwen-tui-lowbit.json``.

``read_layout`` raises ``NativeUnsupported`` (one sentence) for a folder the torch-free engine
does not run: one bigdl-llm's ``save_low_bit`` wrote (no ``qwen-tui-lowbit.json``), a family
or shape our C decoder does not know, an embedding kept in float. ``engine/open.py`` then
picks the bigdl-llm engine, saying why.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...families import FamilySpec, ModelDims, Planned, family_for
from ...recipes import RECIPES
from ...store.stream import LAYOUT, WEIGHTS
from ..kernels.formats import FORMATS, QK

__all__ = ["LAYOUT", "WEIGHTS", "NativeUnsupported", "StoreLayout", "read_layout"]


class NativeUnsupported(Exception):
    """A folder or model the torch-free engine does not run (the message says why)."""


@dataclass(frozen=True)
class Numbers:
    """The floats of config.json the decoder needs, with transformers' defaults."""

    eps: float
    rope_base: float
    positions: int  # the rotary tables' length: the most positions the model takes


@dataclass(frozen=True)
class StoreLayout:
    family: FamilySpec
    dims: ModelDims  # ``tied`` from the layout: the embedding shares the head's bytes
    numbers: Numbers
    tensors: list[Planned]  # in the store's order; ``store`` is each one's format or "f32"
    embedding: str  # the embedding's format

    @property
    def head(self) -> Planned:
        return next(t for t in self.tensors if t.role == "output")


def _numbers(dims: ModelDims) -> Numbers:
    """As the family reads config.json (with the config classes' own defaults, since a store's
    config.json may leave a field out; Qwen3.5's rope_parameters and text_config included)."""
    return Numbers(dims.eps, dims.rope_base, dims.positions)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NativeUnsupported(f"{path.name} is unreadable ({type(exc).__name__})") from None


def read_layout(folder: Path) -> StoreLayout:
    """The store folder's layout; ``NativeUnsupported`` where this engine cannot run it."""
    folder = Path(folder)
    if not (folder / LAYOUT).is_file():
        raise NativeUnsupported(f"the folder has no {LAYOUT} (bigdl-llm's save_low_bit wrote it)")
    config, layout = _read_json(folder / "config.json"), _read_json(folder / LAYOUT)
    if not isinstance(config, dict) or not isinstance(layout, dict):
        raise NativeUnsupported("config.json or the layout is not a JSON object")
    family = family_for(str(config.get("model_type")))
    if family is None:
        raise NativeUnsupported(f"no decoder for model_type {config.get('model_type')!r}")
    why = family.refuse(config)
    if why:
        raise NativeUnsupported(why)
    modules, embedding = layout.get("modules"), layout.get("embedding") or {}
    if not isinstance(modules, dict) or embedding.get("format") not in FORMATS:
        raise NativeUnsupported(f"{LAYOUT} keeps the embedding in float or names no formats")
    try:
        dims = family.dims(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise NativeUnsupported(f"config.json lacks {exc}") from None
    # the store keeps a tied table once, as the head (config.json says untied either way)
    dims = dataclasses.replace(dims, tied=bool(embedding.get("shared_with")))
    tensors = []
    for t in family.plan(dims, RECIPES["sym_int4"]):  # names and shapes; formats come below
        if t.store == "f32":
            tensors.append(t)
            continue
        module = t.name.removesuffix(".weight")
        fmt = embedding["format"] if t.role == "token_embd" else modules.get(module)
        if fmt not in FORMATS:
            raise NativeUnsupported(f"{LAYOUT} gives {t.name} no format qwen-tui knows")
        tensors.append(dataclasses.replace(t, store=fmt))
    _check_shape(dims)
    return StoreLayout(family, dims, _numbers(dims), tensors, embedding["format"])


def _check_shape(d: ModelDims) -> None:
    """What ``make_decoder`` and the attention kernel accept (checked there too)."""
    if d.hidden % QK or d.q_dim % QK or d.inter % QK:
        raise NativeUnsupported(f"its widths are not multiples of {QK}")
    if d.head_dim % 16 or d.heads % d.kv_heads:
        raise NativeUnsupported("its heads do not fit the attention kernel")
    if d.hidden % 8 or d.head_dim % 8:
        raise NativeUnsupported("its norms are not a multiple of 8 wide")
    if d.layer_types:  # Qwen3.5: what make_hybrid and the Gated DeltaNet kernels accept
        if d.rope_dim % 2 or not 0 < d.rope_dim <= d.head_dim:
            raise NativeUnsupported("its rotary width does not fit its heads")
        if d.linear_value_dim % QK or d.linear_k_dim % 8 or d.linear_v_dim % 8:
            raise NativeUnsupported("its Gated DeltaNet heads are not a multiple of 8 wide")
        if d.linear_v_heads % d.linear_k_heads or d.conv_kernel < 1:
            raise NativeUnsupported("its Gated DeltaNet heads or conv do not fit the kernels")
