"""Open a GGUF file and read what qwen-tui needs from its metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError

ARCHITECTURES = ("qwen2", "qwen3")


@dataclass(frozen=True)
class GgufFile:
    path: Path
    reader: Any  # gguf.GGUFReader
    arch: str

    def field(self, key: str, default: Any = None) -> Any:
        """A metadata value (numbers, strings, lists of either), or ``default``."""
        found = self.reader.fields.get(key)
        if found is None:
            return default
        return found.contents()

    def arch_field(self, key: str, default: Any = None) -> Any:
        return self.field(f"{self.arch}.{key}", default)

    def require(self, key: str) -> Any:
        value = self.arch_field(key)
        if value is None:
            raise UsageError(
                f"{self.path.name} has no '{self.arch}.{key}' in its metadata.",
                "Use a GGUF written by llama.cpp's convert_hf_to_gguf.py.",
            )
        return value


def open_gguf(path: Path) -> GgufFile:
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - a dependency of the package
        raise UsageError(
            "Reading GGUF files needs the 'gguf' package.", "pip install gguf"
        ) from None
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file.", "Check the path.")
    try:
        reader = GGUFReader(str(path), "r")
    except Exception as exc:  # the reader raises ValueError, struct.error, IndexError ...
        raise UsageError(
            f"{path.name} is not a readable GGUF file ({type(exc).__name__}: {exc}).",
            "Download it again; a partial download cannot be read.",
        ) from None
    arch_field = reader.fields.get("general.architecture")
    arch = str(arch_field.contents()) if arch_field is not None else "unknown"
    if arch not in ARCHITECTURES:
        raise UsageError(
            f"{path.name} holds a '{arch}' model; qwen-tui imports these GGUF architectures "
            f"({', '.join(ARCHITECTURES)}).",
            "Use a Qwen2, Qwen2.5 or Qwen3 (dense) GGUF file.",
        )
    return GgufFile(path, reader, arch)
