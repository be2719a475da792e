"""Which engine runs a model from the store: ours without torch (``native``), unless the user,
the CPU or the model calls for bigdl-llm's (``bigdl``), saying why. A family bigdl-llm cannot
run (Qwen3.5) is never handed to it: where ours cannot run it either, loading says why in one
sentence (``none``).

A folder bigdl-llm's ``save_low_bit`` wrote is opened through a copy converted once into the
store's layout (``store/lowbit_import``), wherever the native engine would run it; the engine's
``opened_note`` then says what converting did, once. bigdl-llm's engine is reached by name
(``importlib``), so importing this module, or opening a model with the native engine (a
conversion included), never imports torch, transformers or bigdl-llm.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EngineError
from ..families import FamilySpec, family_for
from ..manifest import read_manifest
from ..remote_code import needs_remote_code
from ..store.lowbit_import import saved_format
from ..store.lowbit_import.cache import converted_copy, why_not
from . import kernels
from .local import LocalEngine
from .native.engine import NativeEngine
from .native.layout import NativeUnsupported, read_layout
from .plan import MODE_ENV as MATMUL_ENV

DECODER_ENV = "QWEN_TUI_DECODER"  # "bigdl": bigdl-llm's engine and forwards
BIGDL_ENGINE = "qwen_tui.engine.bigdl.engine"
CONVERTED = "bigdl-llm's save_low_bit folder, converted to qwen-tui's layout when opened"


@dataclass(frozen=True)
class EngineChoice:
    name: str  # "native" | "bigdl" | "none" (neither runs the model here; ``why`` says so)
    why: str = ""  # empty for the default
    hint: str = ""  # what to do, for "none"

    @property
    def note(self) -> str:
        """What bench and doctor show: "native", or "bigdl (why)"."""
        return f"{self.name} ({self.why})" if self.why else self.name


def choose_engine(model_dir: Path | None = None) -> EngineChoice:
    """The engine for ``model_dir`` (None: for a typical store model on this machine)."""
    ours = _family_only_ours(Path(model_dir)) if model_dir is not None else None
    bigdl = _bigdl_reason()
    if bigdl is not None:
        if ours is not None:
            return _neither(ours, bigdl)
        return EngineChoice("bigdl", bigdl)
    if model_dir is None:
        return EngineChoice("native")
    if saved_format(Path(model_dir)):  # converted when opened, where it can be
        why = why_not(Path(model_dir))
        return EngineChoice("bigdl", why) if why else EngineChoice("native", CONVERTED)
    if _runs_own_code(Path(model_dir)):
        return EngineChoice("bigdl", "the model runs its own code")
    try:
        read_layout(Path(model_dir))
    except NativeUnsupported as exc:
        if ours is not None:
            return _neither(ours, str(exc))
        return EngineChoice("bigdl", str(exc))
    return EngineChoice("native")


def _bigdl_reason() -> str | None:
    """Why a setting or this machine calls for bigdl-llm's engine, or None."""
    if os.environ.get(DECODER_ENV, "").strip().lower() == "bigdl":
        return f"{DECODER_ENV}=bigdl"
    matmul = os.environ.get(MATMUL_ENV, "").strip().lower()
    if matmul in ("bigdl", "dequant"):
        return f"{MATMUL_ENV}={matmul}"
    if not kernels.available():
        return "qwen-tui's C kernels were not built"
    if not kernels.float_kernels():
        return "this CPU lacks AVX2, which our decoder needs"
    return None


def _family_only_ours(folder: Path) -> FamilySpec | None:
    """The folder's family where bigdl-llm's engine cannot run it (Qwen3.5), else None."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    family = family_for(str(config.get("model_type"))) if isinstance(config, dict) else None
    return family if family is not None and not family.bigdl else None


def _neither(family: FamilySpec, why: str) -> EngineChoice:
    """A model only our engine runs, which cannot run it here: why, in one sentence."""
    if why.startswith((DECODER_ENV, MATMUL_ENV)):
        setting = why.split("=")[0]
        return EngineChoice(
            "none",
            f"bigdl-llm's engine, which {why} asks for, cannot run {family.title} models",
            f"Unset {setting} to run it on qwen-tui's own engine.",
        )
    return EngineChoice(
        "none",
        f"only qwen-tui's own engine runs {family.title} models, and it cannot run this one "
        f"here: {why}",
        "Run it on a CPU with AVX2, with qwen-tui's C kernels built (./scripts/setup.sh).",
    )


class UnrunnableEngine(LocalEngine):
    """The engine of a model neither engine runs here: loading says why (``EngineChoice``)."""

    name = "none"

    def __init__(self, model_dir: Path, choice: EngineChoice, **kwargs: Any) -> None:
        super().__init__(model_dir, **kwargs)
        self.choice = choice

    def _open(self, manifest: Any, trust: bool) -> Any:
        raise EngineError(f"Cannot load {manifest.name}: {self.choice.why}.", self.choice.hint)


def _runs_own_code(folder: Path) -> bool:
    """Whether the model's code is its own (the engine then checks it may run, as today)."""
    manifest = read_manifest(folder)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(manifest and manifest.remote_code and isinstance(config, dict)
                and needs_remote_code(config))  # fmt: skip


def open_engine(model_dir: Path, threads: int | None = None, kv_cache_mb: int = 768) -> LocalEngine:
    """The engine for a model folder, not loaded yet (``load()`` does); its ``engine_note``
    says which it is and why. A save_low_bit folder the native engine would run is converted
    first (once: the copy is kept), and ``opened_note`` says so."""
    note = ""
    if choose_engine(model_dir).why == CONVERTED:
        model_dir, note = converted_copy(Path(model_dir))
    choice = choose_engine(model_dir)
    engine: LocalEngine
    if choice.name == "native":
        engine = NativeEngine(model_dir, threads=threads, kv_cache_mb=kv_cache_mb)
    elif choice.name == "none":
        engine = UnrunnableEngine(model_dir, choice, threads=threads, kv_cache_mb=kv_cache_mb)
    else:
        bigdl: Any = importlib.import_module(BIGDL_ENGINE)
        engine = bigdl.BigdlEngine(model_dir, threads=threads, kv_cache_mb=kv_cache_mb)
    engine.engine_note = choice.note
    engine.opened_note = note
    return engine
