"""The core stays free of Textual (import-linter contract in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path


def test_core_does_not_import_textual():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([exe], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
