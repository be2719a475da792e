"""Every change qwen-tui makes to bigdl-llm's and transformers' code, in one ordered registry.

Each patch says what it replaces, the versions it was written for, what runs where it does
not apply, and which patches it needs installed first. ``install(model)`` installs them in
order and returns a ``PatchReport``: what was patched (and how many modules), what fell back
and why. ``bench`` prints it, ``doctor`` checks the versions, and the tests check that a
model of each family gets every patch it should (so a version bump cannot fall back
silently).

The patches, in the order they install:

- ``lowbit_linear``  ``matmul.py``: ``LowBitLinear.forward`` (a class method, once per
  process) goes through the matmul plan (our kernels, bigdl-llm's kernel called directly, or
  dequantize + BLAS); a layer no plan prepared keeps bigdl-llm's forward.
- ``shared_rotary``  ``runtime/memory.py``: one rotary cos/sin table for all Qwen2 layers.
- ``qwen2_attention``  bigdl-llm's module function ``qwen2_sdpa_attention_forward``.
- ``qwen1_attention``  ``forward`` of each Qwen-1 ``QWenAttention`` whose ``c_attn`` bigdl split.
- ``mlp``  ``forward`` of each Qwen2 / Qwen-1 MLP (gate and up in one kernel call).
- ``norm``  ``forward`` of each RMSNorm (our kernel).
- ``last_layer``  ``forward`` of the last decoder layer: only the sampled position goes on.
  It passes ``qwen_tui_last_only=True`` through bigdl-llm's ``**kwargs`` to the attention
  patches, so it needs them installed first.

Module forwards are replaced by ``forwards.replace``, which keeps bigdl-llm's as
``module.qwen_tui_forward`` (the fallback of each, and what the tests compare with).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ...runtime import memory
from .. import matmul
from . import last_layer, mlp, norm, qwen1_attention, qwen2_attention

WRITTEN_FOR = {"bigdl-llm": "2.5.0b20240627", "transformers": "4.37.2"}


class NotApplied(Exception):
    """Raised by an installer: the patch does not apply here (the message says why)."""


@dataclass(frozen=True)
class Patch:
    name: str
    replaces: str  # what of someone else's code it replaces
    fallback: str  # what runs where it is not installed
    install: Callable[[Any], int]  # (model) -> how many modules it patched; may raise NotApplied
    needs: tuple[str, ...] = ()  # patches that must be installed before it
    written_for: dict[str, str] = field(default_factory=lambda: dict(WRITTEN_FOR))


@dataclass(frozen=True)
class Installed:
    name: str
    patched: int  # modules patched (0: it fell back)
    why: str = ""  # why it fell back

    @property
    def ok(self) -> bool:
        return self.patched > 0


@dataclass(frozen=True)
class PatchReport:
    results: tuple[Installed, ...]
    versions: dict[str, str]

    def get(self, name: str) -> Installed:
        return next(r for r in self.results if r.name == name)

    @property
    def fell_back(self) -> list[Installed]:
        return [r for r in self.results if not r.ok]

    def lines(self) -> list[str]:
        return [
            f"{r.name}: {r.patched} patched" if r.ok else f"{r.name}: fell back ({r.why})"
            for r in self.results
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"versions": dict(self.versions), "patches": [asdict(r) for r in self.results]}


def _lowbit_linear(model: Any) -> int:
    from bigdl.llm.transformers.low_bit_linear import LowBitLinear

    matmul.install()
    layers = sum(isinstance(m, LowBitLinear) for m in model.modules())
    if not layers:
        raise NotApplied("no low-bit layers in this model")
    return layers


def _shared_rotary(model: Any) -> int:
    shared = memory.share_rotary_tables(model)
    if not shared:
        raise NotApplied("no per-layer rotary tables to share")
    return shared


PATCHES: tuple[Patch, ...] = (
    Patch(
        "lowbit_linear",
        "bigdl-llm's LowBitLinear.forward (class method)",
        "bigdl-llm's forward (its kernel, or dequantize + F.linear from 512 rows)",
        _lowbit_linear,
    ),
    Patch(
        "shared_rotary",
        "each Qwen2 layer's rotary_emb (transformers)",
        "a cos/sin table per layer (more memory, same numbers)",
        _shared_rotary,
    ),
    Patch(
        "qwen2_attention",
        "bigdl-llm's qwen2_sdpa_attention_forward (module function)",
        "bigdl-llm's Qwen2 attention (float32 cache, scores computed twice)",
        qwen2_attention.install,
    ),
    Patch(
        "qwen1_attention",
        "QWenAttention.forward per module (bigdl-llm's qwen_attention_forward)",
        "bigdl-llm's Qwen-1 attention",
        qwen1_attention.install,
    ),
    Patch(
        "mlp",
        "Qwen2MLP / QWenMLP.forward per module",
        "bigdl-llm's MLP forward (three kernel calls, torch silu and mul)",
        mlp.install,
    ),
    Patch("norm", "Qwen2RMSNorm / RMSNorm.forward per module", "torch's RMSNorm", norm.install),
    Patch(
        "last_layer",
        "the last Qwen2DecoderLayer / QWenBlock.forward",
        "the whole last layer (every position's logits computed)",
        last_layer.install,
        needs=("qwen2_attention|qwen1_attention",),
    ),
)


def installed_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in WRITTEN_FOR:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def version_problems(patch: Patch, versions: dict[str, str]) -> list[str]:
    return [
        f"written for {package} {wanted}, found {versions.get(package)}"
        for package, wanted in patch.written_for.items()
        if versions.get(package) != wanted
    ]


def install(model: Any, patches: tuple[Patch, ...] = PATCHES) -> PatchReport:
    """Install every patch that applies to ``model``, in order; report each."""
    versions = installed_versions()
    done: set[str] = set()
    results = []
    for patch in patches:
        why = "; ".join(version_problems(patch, versions))
        missing = [n for n in patch.needs if not any(a in done for a in n.split("|"))]
        if missing and not why:
            why = "needs " + ", ".join(m.replace("|", " or ") for m in missing)
        patched = 0
        if not why:
            try:
                patched = patch.install(model)
                why = "" if patched else "nothing in this model it applies to"
            except NotApplied as reason:
                why = str(reason)
        if patched:
            done.add(patch.name)
        results.append(Installed(patch.name, patched, why))
    return PatchReport(tuple(results), versions)
