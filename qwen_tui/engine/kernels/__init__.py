"""The only gateway to qwen-tui's C kernels (``csrc/``, built as the module ``_native``).

Every function checks its arguments' dtype, shape and contiguity and raises ``KernelError``
before a pointer reaches C. The instruction-set variant is chosen once from CPUID (best
supported: avx512 > avxvnni > avx2 > ref) or forced with ``QWEN_TUI_ISA``; all variants give
bit-identical results (the tests check every one the machine can run).

Importing this package does not import torch: the functions on torch tensors
(``kernels.matmul``, ``kernels.pack``, ... in ``torch_api.py``) are loaded on first use;
torch-free code passes numpy arrays through ``arrays.py`` (``sampling.py`` is one such
gateway).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .formats import BY_QTYPE, FORMATS, Format
from .formats import QK as QK  # kernels.QK for callers

PREFERENCE = ("avx512", "avxvnni", "avx2", "ref")  # best first
ISA_ENV = "QWEN_TUI_ISA"
FORMAT_IDS = {name: i for i, name in enumerate(FORMATS)}  # the C enum's order


class KernelError(ValueError):
    """A tensor that does not fit a kernel (a bug in the caller, never user input)."""


@functools.cache
def native() -> ModuleType | None:
    """The compiled module, or None where it was not built."""
    try:
        from . import _native  # compiled: Any to mypy (via __getattr__)
    except ImportError:  # built without a C compiler
        return None
    return _native


def library() -> ModuleType:
    """The compiled module; ``KernelError`` where it was not built (check ``available``)."""
    mod = native()
    if mod is None:
        raise KernelError("qwen-tui's C kernels were not built")
    return mod


def available() -> bool:
    return native() is not None


def isa_names() -> tuple[str, ...]:
    mod = native()
    return tuple(mod.isa_names()) if mod else ()


def supported_isas() -> list[str]:
    mod = native()
    if mod is None:
        return []
    return [name for i, name in enumerate(mod.isa_names()) if mod.isa_supported(i)]


@dataclass(frozen=True)
class IsaChoice:
    name: str  # the variant that runs
    forced: bool  # chosen by QWEN_TUI_ISA
    note: str = ""  # why a forced choice was not honoured

    @property
    def index(self) -> int:
        return isa_names().index(self.name)


@functools.cache
def chosen_isa() -> IsaChoice:
    """The variant this process runs (read once: QWEN_TUI_ISA, else the best supported)."""
    supported = supported_isas()
    if not supported:
        return IsaChoice("none", False, "the kernels are not built")
    wanted = os.environ.get(ISA_ENV, "").strip().lower()
    if wanted and wanted != "auto":
        if wanted in supported:
            return IsaChoice(wanted, True)
        note = f"{ISA_ENV}={wanted} is not supported here (this CPU runs {', '.join(supported)})"
        best = next(name for name in PREFERENCE if name in supported)
        return IsaChoice(best, False, note)
    return IsaChoice(next(name for name in PREFERENCE if name in supported), False)


def isa_index(isa: str | None) -> int:
    """The variant to run: ``isa`` by name (checked), else this process's choice."""
    if isa is None:
        return chosen_isa().index
    names = isa_names()
    if isa not in names or not library().isa_supported(names.index(isa)):
        raise KernelError(f"instruction set {isa!r} is not supported on this CPU")
    return names.index(isa)


def format_of(qtype: int) -> Format | None:
    return BY_QTYPE.get(qtype)


def packed_bytes(fmt: Format, rows: int, cols: int) -> int:
    """The size of a [rows, cols] weight of ``fmt`` regrouped for the kernels."""
    mod = native()
    if mod is None:
        raise KernelError("the kernels are not built")
    return int(mod.packed_bytes(FORMAT_IDS[fmt.name], rows, cols))


def float_kernels() -> bool:
    """Whether attention, RMSNorm and rotary run in C here (they need AVX2)."""
    return "avx2" in supported_isas()


# -- the torch gateway, imported on first use ------------------------------------------------

TORCH_API = (
    "PackedWeight",
    "pack",
    "dequantize",
    "matmul",
    "quantize_activations",
    "rms_norm",
    "attend",
    "rotary",
    "dequantize_rows",
    "read_all",
    "read_bandwidth",
)

if TYPE_CHECKING:  # what the type checker sees of the lazy names
    from .torch_api import PackedWeight as PackedWeight
    from .torch_api import attend as attend
    from .torch_api import dequantize as dequantize
    from .torch_api import dequantize_rows as dequantize_rows
    from .torch_api import matmul as matmul
    from .torch_api import pack as pack
    from .torch_api import quantize_activations as quantize_activations
    from .torch_api import read_all as read_all
    from .torch_api import read_bandwidth as read_bandwidth
    from .torch_api import rms_norm as rms_norm
    from .torch_api import rotary as rotary


def __getattr__(name: str) -> Any:
    """``kernels.matmul`` and the rest of ``TORCH_API``: import torch_api (and torch) now, and
    keep the function here so the next lookup is a plain attribute."""
    if name not in TORCH_API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import torch_api

    value = getattr(torch_api, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *TORCH_API])
