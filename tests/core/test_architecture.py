"""The shape of the code: the import-linter contracts in pyproject.toml (the core free of
Textual, no cycle between the app, its screens and widgets) and the type checker on the
core (mypy, configured in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[2]


def tool(name: str) -> str:
    return shutil.which(name) or str(Path(sys.executable).parent / name)


def test_every_import_contract_is_kept():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    result = subprocess.run([tool("lint-imports")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(contracts)} kept, 0 broken" in result.stdout


def test_the_core_type_checks():
    result = subprocess.run(
        [tool("mypy"), "--cache-dir", "/dev/null"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
