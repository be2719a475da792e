"""Which tokenizer a model folder holds, and reading its JSON files.

AutoTokenizer (transformers 4.37.2) picks the class named by ``tokenizer_config.json``'s
``tokenizer_class``, else by ``config.json``'s, else the one registered for ``config.json``'s
``model_type`` (Qwen3's is Qwen2's: ``engine/models/__init__.py:register``), and builds its
fast variant. ``ChatTokenizer`` reproduces two of them; any other stays with transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
QWEN2 = "Qwen2TokenizerFast"
GENERIC = "PreTrainedTokenizerFast"  # what the tiny test tokenizers save themselves as
CLASSES = {"Qwen2Tokenizer": QWEN2, "Qwen2TokenizerFast": QWEN2, GENERIC: GENERIC}
MODEL_TYPES = {"qwen2": QWEN2, "qwen3": QWEN2}


class TokenizerFileError(ValueError):
    """A tokenizer file of the folder is missing, unreadable or not what it should be."""


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokenizerFileError(f"{path.name} cannot be read ({exc.strerror}).") from None
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
        raise TokenizerFileError(f"{path.name} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise TokenizerFileError(f"{path.name} holds no JSON object.")
    return data


def optional_json(path: Path) -> dict[str, Any]:
    """The file's object, or {} where there is no such file."""
    return read_json(path) if path.is_file() else {}


def tokenizer_class(folder: Path) -> str | None:
    """The class AutoTokenizer builds for ``folder`` if ``ChatTokenizer`` reproduces it
    (``QWEN2`` or ``GENERIC``), else None."""
    folder = Path(folder)
    model = optional_json(folder / "config.json")
    named = optional_json(folder / CONFIG_FILE).get("tokenizer_class")
    named = named or model.get("tokenizer_class")
    if named:
        return CLASSES.get(str(named))
    return MODEL_TYPES.get(str(model.get("model_type")))


def reads_folder(folder: Path) -> bool:
    """Whether ``ChatTokenizer.from_folder`` gives what transformers would for ``folder``: it
    has a ``tokenizer.json`` and a tokenizer class in ``CLASSES``."""
    try:
        return (Path(folder) / TOKENIZER_FILE).is_file() and tokenizer_class(folder) is not None
    except TokenizerFileError:
        return False  # transformers then says what is wrong with the file
