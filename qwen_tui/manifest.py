"""What a quantized model folder holds, and whether it is whole.

The manifest is written last, after every other file is complete and hashed;
a folder without a valid manifest is never offered or loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ModelIncomplete

MANIFEST = "qwen-tui-manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    name: str
    low_bit: str
    family: str  # "qwen" or "qwen2"
    source: str  # repo id or local folder
    commit: str | None  # resolved hub commit, None for a local folder
    remote_code: bool
    files: tuple[FileEntry, ...]
    versions: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    format_version: int = FORMAT_VERSION
    # the recipe the layers were quantized by (engine/bigdl/lowbit); None for folders bigdl-llm's
    # save_low_bit wrote (one format, float embedding), which its load_low_bit reads
    recipe: dict | None = None
    # measured against the source after quantizing (eval): perplexity and its change, KL ...
    quality: dict | None = None
    # a folder bigdl-llm's save_low_bit wrote that this was converted from (store/lowbit_import):
    # "from", its "path", its files' "fingerprint" then, and the "summary" of what was done
    converted: dict | None = None
    # what the source held that the model does not run, left out (store/stream.py): {"the
    # vision tower": {"tensors": n, "bytes": b}, ...}; None where nothing was
    skipped: dict | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["files"] = tuple(FileEntry(**f) for f in data["files"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def describe_skipped(skipped: dict | None) -> str:
    """One line for `models`: what of the source was left out (``Manifest.skipped``), or ""."""
    from .store.progress import human_bytes

    if not skipped:
        return ""
    parts = []
    for what, count in skipped.items():
        tensors = f"{count['tensors']} tensor{'' if count['tensors'] == 1 else 's'}"
        parts.append(f"{what} ({tensors}, {human_bytes(count['bytes'])})")
    return "left out of its source, which qwen-tui does not run: " + ", ".join(parts)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def scan_files(folder: Path) -> tuple[FileEntry, ...]:
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == MANIFEST:
            continue
        entries.append(FileEntry(rel, path.stat().st_size, sha256_of(path)))
    return tuple(entries)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write atomically and fsync: the manifest is the folder's seal."""
    tmp = folder / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None when it is missing or unreadable."""
    try:
        return Manifest.from_json((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def problems(folder: Path, manifest: Manifest, deep: bool = False) -> list[str]:
    """What is wrong with the folder against its manifest (sizes; hashes when deep)."""
    found = []
    for entry in manifest.files:
        path = folder / entry.name
        if not path.is_file():
            found.append(f"{entry.name} is missing")
        elif path.stat().st_size != entry.size:
            found.append(f"{entry.name} has the wrong size")
        elif deep and sha256_of(path) != entry.sha256:
            found.append(f"{entry.name} does not match its checksum")
    return found


def verify(folder: Path, deep: bool = False) -> Manifest:
    """Return the manifest of a whole model folder, or raise ModelIncomplete."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise ModelIncomplete(
            f"{folder} is not a complete qwen-tui model (no manifest).",
            "Quantize it again with `qwen-tui pull` or `qwen-tui quantize`.",
        )
    found = problems(folder, manifest, deep)
    if found:
        raise ModelIncomplete(
            f"Model {manifest.name} is damaged: {found[0]}.",
            f"Remove it with `qwen-tui rm {folder.name}` and quantize it again.",
        )
    return manifest


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("qwen-tui", "bigdl-llm", "transformers", "torch", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def now() -> float:
    return round(time.time(), 3)
