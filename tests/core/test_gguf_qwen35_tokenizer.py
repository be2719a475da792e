"""A ``qwen35`` GGUF's tokenizer rebuilt as tokenizer.json gives the ids the original
tokenizer.json gives: Qwen3.5's split (a combining mark stays with the letters before it,
llama.cpp's ``qwen35`` pre-tokenizer) on mixed text (Chinese, digits, code, emoji, marks).

Two originals: the tiny tokenizer the fixture GGUF was converted with by llama.cpp's converter
(tests/fixtures/qwen35_gguf/make.py), and a byte-level BPE trained here with Qwen3.5's split
on text full of marks, so that its merges join letters to their marks and a wrong split shows
in the ids (the test checks that the Qwen2 split would give other ids)."""

from __future__ import annotations

import json

import pytest
from gguf import GGUFWriter
from qwen35_gguf import F32_GGUF
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from qwen_tui.errors import UsageError
from qwen_tui.store.gguf_import.header import read_header
from qwen_tui.store.gguf_import.read import GgufFile, open_gguf
from qwen_tui.store.gguf_import.tokenizer import QWEN2_SPLIT, QWEN35_SPLIT, tokenizer_json
from qwen_tui.testing.tiny_qwen3 import qwen3_tokenizer

TEXTS = [
    "Hello world! In 2026: 3.14159, 1,000,000 and the 42nd.",
    "你好，世界！我想在apple工作1314151天～ 今天天气很好。",
    "def add(a, b):\n    return a + b  # sum\n\n\tprint(f'{x!r}')\r\n",
    "🚀 (normal) 😶‍🌫️ ✅ 🦙🦙 ❤️ 👍🏽",
    "résumé naïve re\u0301sume\u0301 à\u0300",
    "हिन्दी भाषा, ภาษาไทย, Tiếng Việt, কান্না",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll",
    "  \n\n\t  spaces   and\r\nnewlines  ",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n",
]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def ids(tokenizer: Tokenizer) -> list[list[int]]:
    return [tokenizer.encode(text, add_special_tokens=False).ids for text in TEXTS]


def rebuilt(gf: GgufFile) -> Tokenizer:
    return Tokenizer.from_str(json.dumps(tokenizer_json(gf)))


def with_split(tokenizer_text: str, split: str) -> Tokenizer:
    data = json.loads(tokenizer_text)
    data["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = split
    return Tokenizer.from_str(json.dumps(data))


def test_the_converted_fixture_tokenizes_as_the_tokenizer_it_was_converted_from():
    original = with_split(qwen3_tokenizer().backend_tokenizer.to_str(), QWEN35_SPLIT)
    gf = open_gguf(F32_GGUF)
    assert gf.text("tokenizer.ggml.pre") == "qwen35"
    assert ids(rebuilt(gf)) == ids(original)
    assert len(tokenizer_json(gf)["model"]["vocab"]) == 486


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    """(original tokenizer.json text, a GGUF of it as the converter lays one out)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN35_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(TEXTS * 8, trainer=trainer)
    text = tok.to_str()
    path = tmp_path_factory.mktemp("marked") / "vocab.gguf"
    data = json.loads(text)
    vocab = data["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    writer = GGUFWriter(str(path), "qwen35")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen35")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in SPECIALS else 1 for t in tokens])
    writer.add_token_merges(data["model"]["merges"])
    writer.add_eos_token_id(vocab["<|im_end|>"])
    writer.add_chat_template("{{ messages[0]['content'] }}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return text, GgufFile(path, read_header(path), "qwen35")


def test_a_vocabulary_that_merges_letters_with_their_marks_gives_the_original_ids(marked):
    text, gf = marked
    original = Tokenizer.from_str(text)
    assert ids(rebuilt(gf)) == ids(original)
    # the texts tell the splits apart: Qwen2's would give other ids for the marked ones
    assert ids(with_split(text, QWEN2_SPLIT)) != ids(original)


def test_an_unknown_pre_tokenizer_is_refused_naming_both_it_reads(tmp_path):
    from qwen35_gguf import rewrite

    path = rewrite(F32_GGUF, tmp_path / "m.gguf", metadata={"tokenizer.ggml.pre": "qwen4"})
    with pytest.raises(UsageError, match="'gpt2', with the 'qwen2' or 'qwen35' pre-tokenizer"):
        open_gguf(path)
