"""tokenizer.json with its merges as pairs (tokenizers >= 0.20, so transformers 5 and Qwen3.5's
repos) reads as the pinned tokenizers 0.15 reads the older strings: where a folder's tokenizer
is read and where quantizing copies it into the store.

tests/fixtures/tokenizer_merge_pairs: the tiny Qwen3 tokenizer (qwen_tui.testing.tiny_qwen3)
saved by tokenizers 0.15.2 (strings.json) and the same tokenizer re-written by tokenizers 0.23.3
(pairs.json: ``Tokenizer.from_file("strings.json").to_str()``, in make.py's venv)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from qwen_tui.engine.tokenizer import ChatTokenizer, TokenizerFileError
from qwen_tui.errors import UsageError
from qwen_tui.store.source import copy_support_files

FIXTURE = Path(__file__).parent.parent / "fixtures" / "tokenizer_merge_pairs"
TEXTS = [
    "The quick brown fox 你好",
    "<|im_start|>user\nHello! 😀 🚀 ❤️<|im_end|>\n<|im_start|>assistant\n<think>\n",
    "def add(a, b):\n    return a + b\n",
    "今天天气很好，我们去公园散步吧。 system user",
]


def folder(tmp_path: Path, tokenizer: str | dict, name: str) -> Path:
    out = tmp_path / name
    out.mkdir()
    for f in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy2(FIXTURE / f, out / f)
    if isinstance(tokenizer, dict):
        (out / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    else:
        shutil.copy2(FIXTURE / tokenizer, out / "tokenizer.json")
    return out


def test_the_fixture_is_in_both_forms():
    pairs = json.loads((FIXTURE / "pairs.json").read_text())["model"]["merges"]
    strings = json.loads((FIXTURE / "strings.json").read_text())["model"]["merges"]
    assert isinstance(pairs[0], list) and isinstance(strings[0], str) and len(pairs) > 200
    with pytest.raises(Exception, match="untagged enum ModelWrapper"):  # what 0.15 says alone
        Tokenizer.from_file(str(FIXTURE / "pairs.json"))


def test_a_pairs_tokenizer_gives_the_strings_ids(tmp_path):
    old = ChatTokenizer.from_folder(folder(tmp_path, "strings.json", "strings"))
    new = ChatTokenizer.from_folder(folder(tmp_path, "pairs.json", "pairs"))
    for text in TEXTS:
        ids = old.encode(text)
        assert new.encode(text) == ids and len(ids) > 3
        assert new.decode(ids) == old.decode(ids)


def test_quantizing_copies_it_as_strings(tmp_path):
    stored = tmp_path / "store"
    stored.mkdir()
    copy_support_files(folder(tmp_path, "pairs.json", "pairs"), stored)
    merges = json.loads((stored / "tokenizer.json").read_text())["model"]["merges"]
    assert all(isinstance(m, str) for m in merges)
    want = Tokenizer.from_file(str(FIXTURE / "strings.json"))
    got = Tokenizer.from_file(str(stored / "tokenizer.json"))  # tokenizers 0.15 reads it
    assert [got.encode(t).ids for t in TEXTS] == [want.encode(t).ids for t in TEXTS]
    older = tmp_path / "store-strings"
    older.mkdir()
    copy_support_files(folder(tmp_path, "strings.json", "strings"), older)
    assert (older / "tokenizer.json").read_bytes() == (FIXTURE / "strings.json").read_bytes()


def changed(**model) -> dict:
    data = json.loads((FIXTURE / "pairs.json").read_text())
    data["model"].update(model)
    return data


@pytest.mark.parametrize(
    "model, said",
    [
        ({"merges": [["a b", "c"]]}, "merges a token with a space in it"),
        ({"merges": [["a", "b", "c"]]}, "a merge that is not two tokens"),
        ({"ignore_merges": True}, "asks for ignore_merges"),
    ],
)
def test_what_strings_cannot_say_is_one_sentence(tmp_path, model, said):
    source = folder(tmp_path, changed(**model), "odd")
    with pytest.raises(TokenizerFileError, match=said):
        ChatTokenizer.from_folder(source)
    (tmp_path / "store").mkdir()
    with pytest.raises(UsageError, match=said):
        copy_support_files(source, tmp_path / "store")
