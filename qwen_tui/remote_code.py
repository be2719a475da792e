"""Which model folders may run their own Python code, and proof that it has not changed since.

Every family qwen-tui knows runs on its own model code and tokenizer (``engine/models/``):
Qwen-1's repos name ``modeling_qwen.QWenLMHeadModel`` in ``auto_map``, and that class is ours,
so no file of theirs runs. A folder whose ``auto_map`` names any other class asks for code
qwen-tui does not have. Such code runs only when the user said so (``--trust-remote-code``) while
quantizing it into the store; the manifest records every file with its sha256, and at load:

- the folder must be in the store (a folder elsewhere, ``--model-path``, never runs its code:
  anyone can write a manifest that says "trusted");
- every ``*.py`` file in it must be one the manifest lists, with the same sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RemoteCodeRefused

if TYPE_CHECKING:
    from .manifest import Manifest

# model_type -> the auto_map model classes qwen-tui has its own code for
OWN_CLASSES = {"qwen": ("modeling_qwen.QWenLMHeadModel",)}


def needs_remote_code(config: dict) -> bool:
    """Whether the model's config asks for code qwen-tui does not have."""
    auto_map = config.get("auto_map")
    if not auto_map:
        return False
    if not isinstance(auto_map, dict):
        return True  # an auto_map of another shape than transformers writes: not ours either
    target = str(auto_map.get("AutoModelForCausalLM", "")).split("--")[-1]
    return target not in OWN_CLASSES.get(str(config.get("model_type")), ())


def check_remote_code(config: dict, src: Path, trusted: bool) -> bool:
    """Whether quantizing ``src`` runs its own code: refused unless the user trusted it."""
    if not needs_remote_code(config):
        return False
    if trusted:
        return True
    auto_map = config["auto_map"]
    named = auto_map.get("AutoModelForCausalLM") if isinstance(auto_map, dict) else None
    raise RemoteCodeRefused(
        f"{src} needs to run its own Python code (auto_map in config.json names "
        f"{named or 'code of its own'}).",
        "Read that code, then pass --trust-remote-code if you trust it.",
    )


def code_runs_at_load(folder: Path, manifest: Manifest, store: Path) -> bool:
    """Whether loading ``folder`` runs its own code; raises RemoteCodeRefused where it would
    but may not (outside the store, or its code changed since it was quantized)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    if not (manifest.remote_code and needs_remote_code(config)):
        return False  # our own code (Qwen-1 folders of earlier versions say remote_code too)
    if not _inside(folder, store):
        raise RemoteCodeRefused(
            f"{folder} runs its own Python code, which qwen-tui runs only for models it "
            "quantized into its store with --trust-remote-code.",
            "Quantize the source with `qwen-tui quantize SOURCE --name NAME "
            "--trust-remote-code`, after reading its code.",
        )
    recorded = {f.name: f.sha256 for f in manifest.files if f.name.endswith(".py")}
    changed = changed_code(folder, recorded)
    if changed:
        raise RemoteCodeRefused(
            f"{folder.name}'s code file {changed} is not the one it was quantized with.",
            f"Remove it (`qwen-tui rm {folder.name}`) and quantize the source again.",
        )
    return True


def changed_code(folder: Path, recorded: dict[str, str]) -> str | None:
    """The first code file that differs from ``recorded`` (name -> sha256), is missing from
    it, or is missing from the folder; None when all agree."""
    from .manifest import sha256_of

    present = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*.py") if p.is_file()}
    for name in sorted(set(present) | set(recorded)):
        if name not in present or name not in recorded:
            return name
        if sha256_of(present[name]) != recorded[name]:
            return name
    return None


def _inside(folder: Path, root: Path) -> bool:
    try:
        Path(folder).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True
