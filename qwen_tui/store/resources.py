"""Disk and memory checks made before a download or a quantization."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil

from ..errors import NotEnoughDisk, NotEnoughMemory
from .progress import human_bytes


def free_disk(path: Path) -> int:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def available_ram() -> int:
    return int(psutil.virtual_memory().available)


def check_disk(path: Path, needed: int, what: str) -> None:
    free = free_disk(path)
    if free < needed:
        raise NotEnoughDisk(
            f"Not enough disk space to {what}: {human_bytes(needed)} needed, "
            f"{human_bytes(free)} free at {path}.",
            "Free some space or point QWEN_TUI_CACHE_DIR at a larger disk.",
        )


def check_memory(needed: int, what: str) -> None:
    available = available_ram()
    if available < needed:
        raise NotEnoughMemory(
            f"Not enough memory to {what}: {human_bytes(needed)} needed, "
            f"{human_bytes(available)} available.",
            "Close other programs or choose a smaller model.",
        )
