"""tokenizer.json as the pinned ``tokenizers`` (0.15) reads it.

``tokenizers`` 0.20 and later (so transformers 5, and Qwen3.5's repos) write a BPE model's
merges as pairs, ``[["Ġ", "t"], ...]``; 0.15 reads only the older strings, ``"Ġ t"``, and
refuses the file ("data did not match any variant of untagged enum ModelWrapper"). The pairs
are joined back into strings here, where a folder's tokenizer.json is read and where it is
copied into the store. A byte-level BPE token never holds a space (a space is ``Ġ``), so the
string form says the same; a pair with a space in it is refused rather than split wrongly, as
is ``ignore_merges`` (whole words looked up before merging), which 0.15 would silently ignore.
Files in the older form are not parsed here at all (Qwen's is 7 MB).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .files import TOKENIZER_FILE, TokenizerFileError

_PAIRS = re.compile(r'"merges"\s*:\s*\[\s*\[')
_IGNORE_MERGES = re.compile(r'"ignore_merges"\s*:\s*true')


def readable_text(path: Path) -> str | None:
    """``path``'s tokenizer.json rewritten with its merges as strings, or None where it needs
    no rewriting; TokenizerFileError where no rewriting would read as the file says."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenizerFileError(f"{TOKENIZER_FILE} cannot be read ({exc}).") from None
    if _IGNORE_MERGES.search(text):
        raise TokenizerFileError(
            f"{TOKENIZER_FILE} asks for ignore_merges, which the tokenizers library qwen-tui "
            "uses does not do."
        )
    if not _PAIRS.search(text):
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TokenizerFileError(f"{TOKENIZER_FILE} is not valid JSON ({exc}).") from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("merges"), list):
        return None
    model["merges"] = [_joined(merge) for merge in model["merges"]]
    return json.dumps(data, ensure_ascii=False)


def _joined(merge: Any) -> str:
    if isinstance(merge, str):
        return merge
    if not (
        isinstance(merge, list) and len(merge) == 2 and all(isinstance(p, str) and p for p in merge)
    ):
        raise TokenizerFileError(f"{TOKENIZER_FILE} has a merge that is not two tokens: {merge!r}.")
    if any(" " in part for part in merge):
        raise TokenizerFileError(
            f"{TOKENIZER_FILE} merges a token with a space in it ({merge[0]!r} + {merge[1]!r}), "
            "which the tokenizers library qwen-tui uses cannot read."
        )
    return f"{merge[0]} {merge[1]}"
