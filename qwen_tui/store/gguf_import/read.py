"""Open a GGUF file, check it (``header.py``, then ``checks.py``) and read what qwen-tui needs
from its metadata, each value checked for its kind and range as it is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UsageError
from .header import GGUFHeader, StringArray, read_header

ARCHITECTURES = ("qwen2", "qwen3", "qwen35")
# architectures of files met beside Qwen3.5's that qwen-tui does not run, and what they are
OTHERS = {
    "qwen35moe": "a Mixture-of-Experts Qwen3.5 (qwen35moe)",
    "clip": "a vision projector (clip, an mmproj file) and no language model",
}
_CONVERTER = "Use a GGUF written by llama.cpp's convert_hf_to_gguf.py."


@dataclass(frozen=True)
class GgufFile:
    path: Path
    header: GGUFHeader
    arch: str

    def field(self, key: str, default: Any = None) -> Any:
        """A metadata value as stored (see ``GGUFHeader.metadata``), or ``default``."""
        return self.header.metadata.get(key, default)

    def arch_field(self, key: str, default: Any = None) -> Any:
        return self.field(f"{self.arch}.{key}", default)

    def refuse(self, what: str, hint: str = _CONVERTER) -> UsageError:
        return UsageError(f"{self.path.name} cannot be imported: {what}.", hint)

    def whole(self, key: str, least: int = 0, below: int = 1 << 31) -> int | None:
        """The whole number at ``key`` (None when absent), from ``least`` up to ``below``."""
        value = self.field(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise self.refuse(f"its {key} is {_shown(value)}, not a whole number")
        if not least <= int(value) < below:
            raise self.refuse(
                f"its {key} is {int(value):,}; qwen-tui takes {least:,} to {below - 1:,}"
            )
        return int(value)

    def number(self, key: str) -> float | None:
        value = self.field(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise self.refuse(f"its {key} is {_shown(value)}, not a number")
        return float(value)

    def flag(self, key: str) -> bool | None:
        value = self.field(key)
        if value is not None and not isinstance(value, bool):
            raise self.refuse(f"its {key} is {_shown(value)}, not true or false")
        return value

    def text(self, key: str) -> str | None:
        value = self.field(key)
        if value is not None and not isinstance(value, str):
            raise self.refuse(f"its {key} is {_shown(value)}, not text")
        return value

    def strings(self, key: str) -> StringArray:
        value = self.field(key)
        if not isinstance(value, StringArray):
            raise self.refuse(
                f"its {key} is missing or not a list of strings",
                "Use a GGUF file that carries its tokenizer (llama.cpp's converter writes it).",
            )
        return value

    def require(self, key: str, least: int = 1, below: int = 1 << 31) -> int:
        """A whole number of the model's own (``<arch>.<key>``) that must be there."""
        value = self.whole(f"{self.arch}.{key}", least, below)
        if value is None:
            raise UsageError(f"{self.path.name} has no '{self.arch}.{key}' in its metadata.",
                             _CONVERTER)  # fmt: skip
        return value

    def require_number(self, key: str) -> float:
        value = self.number(f"{self.arch}.{key}")
        if value is None:
            raise UsageError(f"{self.path.name} has no '{self.arch}.{key}' in its metadata.",
                             _CONVERTER)  # fmt: skip
        return value


def _shown(value: Any) -> str:
    if isinstance(value, (np.ndarray, StringArray)):
        return f"a list of {len(value)}"
    return repr(value)


def open_gguf(path: Path) -> GgufFile:
    """The file at ``path``, its header and model checked; UsageError (one sentence) if not."""
    from .checks import check_model

    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file.", "Check the path.")
    header = read_header(path)
    arch = header.metadata.get("general.architecture")
    arch = arch if isinstance(arch, str) else "unknown"
    if arch in OTHERS:
        raise UsageError(
            f"{path.name} holds {OTHERS[arch]}; qwen-tui imports the dense Qwen3.5 (qwen35), "
            "Qwen3 and Qwen2 GGUF architectures.",
            "Use a GGUF of Qwen3.5-0.8B, 2B, 4B, 9B or 27B, Qwen3 or Qwen2.5.",
        )
    if arch not in ARCHITECTURES:
        raise UsageError(
            f"{path.name} holds a '{arch}' model; qwen-tui imports these GGUF architectures "
            f"({', '.join(ARCHITECTURES)}).",
            "Use a Qwen2, Qwen2.5, Qwen3 or Qwen3.5 (dense) GGUF file.",
        )
    gf = GgufFile(path, header, arch)
    check_model(gf)
    return gf
