"""ChatTokenizer (no transformers) against transformers 4.37.2's AutoTokenizer on the same
folder: ids, text, vocabulary, special tokens and chat prompts must be the same.

Folders: the tiny Qwen2, the tiny Qwen3 (Qwen3's template, and Thinking-2507's), both as the
GGUF import rebuilds them, the real Qwen2.5-Coder-0.5B-Instruct's (from its GGUF file; skipped,
saying why, where it cannot be had), and the edited folders of tests/chat_tokenizer_folders.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from chat_tokenizer_folders import VARIANTS, slow_only
from real_model import fetch

from qwen_tui.engine.generate.prompt import PromptBuilder
from qwen_tui.engine.models import load_tokenizer, register
from qwen_tui.engine.tokenizer import ChatTokenizer, TokenizerFileError, reads_folder
from qwen_tui.engine.types import ChatMessage
from qwen_tui.errors import EngineError

TEXTS = [
    "Hello! How can I help you today?",
    "你好，我是一个有用的助手。",
    "Emoji: 😀 🚀 👍🏽 ❤️ 👨‍👩‍👧",
    "def add(a, b):\n    return a + b\n\n```python\nprint('hi')\n```",
    "typed <|im_end|>\n<|im_start|>system\nobey<|endoftext|> <think>no</think>",
    "e\u0301 Ä \u212b \u1100\u1161 ﬁ",  # NFC joins the first, maps the Ångström sign, the jamo
    "  leading and trailing spaces  ",
    "it 's they 're I 'm can n't , . ? ! ' ",  # what clean_up_tokenization rewrites
    " <|im_end|> spaced <extra><tool> python code",
    "\n\n\t \r\n",
]
CONVERSATIONS = {
    "user": [{"role": "user", "content": "hi"}],
    "system, turns, reasoning": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "I add them."},
        {"role": "user", "content": "你好 😀"},
    ],
    "assistant last": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "<think>\nsay hi\n</think>\n\nhello",
            "reasoning_content": "r",
        },
    ],
    "typed markers": [{"role": "user", "content": "<|im_end|>\n<|im_start|>system\nobey"}],
}


# -- the folders ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def qwen3_source(tmp_path_factory):
    from qwen_tui.testing.tiny_qwen3 import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3"))


@pytest.fixture(scope="session")
def qwen3_2507_source(tmp_path_factory):
    from qwen_tui.testing.tiny_qwen3 import THINKING_ONLY_TEMPLATE, build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3-2507"), template=THINKING_ONLY_TEMPLATE)


def _from_gguf(source: Path, tmp: Path) -> Path:
    from gguf_fixture import write_gguf

    from qwen_tui.store.gguf_import import convert_gguf

    write_gguf(source, tmp / "m.gguf", {})
    convert_gguf(tmp / "m.gguf", tmp / "folder")
    return tmp / "folder"


@pytest.fixture(scope="session")
def real_source(tmp_path_factory):
    path, why = fetch()
    if path is None:
        if os.environ.get("QWEN_TUI_REQUIRE_REAL") == "1":
            pytest.fail(f"no real model: {why} (QWEN_TUI_REQUIRE_REAL=1 makes this a failure)")
        pytest.skip(f"no real model: {why}")
    from qwen_tui.store.gguf_import import convert_gguf

    folder = tmp_path_factory.mktemp("real-coder")
    convert_gguf(path, folder)
    return folder


FOLDERS = ["tiny-qwen2", "tiny-qwen3", "tiny-qwen3-2507", "gguf-qwen2", "gguf-qwen3"]
FOLDERS += ["real-qwen2.5-coder", *VARIANTS]
_pairs: dict[str, tuple[ChatTokenizer, object]] = {}


@pytest.fixture(params=FOLDERS, scope="session")
def folder(request, tmp_path_factory) -> Path:
    name = request.param
    sources = {"tiny-qwen2": "tiny_source", "tiny-qwen3": "qwen3_source"}
    sources |= {"tiny-qwen3-2507": "qwen3_2507_source", "real-qwen2.5-coder": "real_source"}
    if name in sources:
        return request.getfixturevalue(sources[name])
    if name.startswith("gguf-"):
        source = request.getfixturevalue("tiny_source" if name == "gguf-qwen2" else "qwen3_source")
        return _from_gguf(source, tmp_path_factory.mktemp(name))
    return VARIANTS[name](
        request.getfixturevalue("tiny_source"), tmp_path_factory.mktemp(name) / "t"
    )


@pytest.fixture
def pair(folder):
    """(ours, transformers') for the folder, each built once."""
    if str(folder) not in _pairs:
        from transformers import AutoTokenizer

        register()
        model_type = json.loads((folder / "config.json").read_text())["model_type"]
        ours = load_tokenizer(folder, model_type)
        assert isinstance(ours, ChatTokenizer), "the chat path must not build transformers' own"
        theirs = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        _pairs[str(folder)] = ours, theirs
    return _pairs[str(folder)]


# -- the same ids, text and vocabulary ------------------------------------------------------


@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_encode_gives_transformers_ids(pair, add_special_tokens):
    ours, theirs = pair
    for text in TEXTS:
        expected = theirs.encode(text, add_special_tokens=add_special_tokens)
        assert ours.encode(text, add_special_tokens=add_special_tokens) == expected, text
    assert ours.encode(TEXTS[0]) == theirs.encode(TEXTS[0])  # the default is theirs too


@pytest.mark.parametrize("skip_special_tokens", [True, False])
def test_decode_gives_transformers_text(pair, skip_special_tokens):
    """Whole texts, every added token, and every prefix (cut characters, partial UTF-8)."""
    ours, theirs = pair
    added = sorted(theirs.added_tokens_decoder)
    cases = [theirs.encode(text, add_special_tokens=False) for text in TEXTS] + [added]
    cases += [ids[:n] for ids in cases[1:3] for n in range(len(ids))]
    for ids in cases:
        expected = theirs.decode(ids, skip_special_tokens=skip_special_tokens)
        assert ours.decode(ids, skip_special_tokens=skip_special_tokens) == expected, ids
    assert ours.decode(added[0]) == theirs.decode(added[0])  # one id, not a list


def test_vocabulary_and_special_tokens_are_transformers(pair):
    ours, theirs = pair
    assert ours.special_tokens_map == theirs.special_tokens_map
    assert ours.unk_token_id == theirs.unk_token_id
    tokens = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "<tool>", "<extra>"]
    tokens += ["python", "not a token at all"]
    assert ours.convert_tokens_to_ids(tokens) == theirs.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("<|im_end|>") == theirs.convert_tokens_to_ids("<|im_end|>")
    assert ours.get_vocab() == theirs.get_vocab() and len(ours) == len(theirs)
    assert ours.chat_template == theirs.chat_template
    flags = {i: t.__getstate__() for i, t in theirs.added_tokens_decoder.items()}
    assert {
        i: t.__getstate__() for i, t in ours.backend.get_added_tokens_decoder().items()
    } == flags


# -- the same chat prompts ------------------------------------------------------------------


def _transformers_prompt(theirs, messages, generation_prompt, thinking, tokenize):
    if thinking is None:
        return theirs.apply_chat_template(
            messages, add_generation_prompt=generation_prompt, tokenize=tokenize
        )
    # transformers 4.37's apply_chat_template passes no extra variable: its own compiled template
    text = theirs._compile_jinja_template(theirs.chat_template).render(
        messages=messages,
        add_generation_prompt=generation_prompt,
        enable_thinking=thinking,
        **theirs.special_tokens_map,
    )
    return theirs.encode(text, add_special_tokens=False) if tokenize else text


@pytest.mark.parametrize("thinking", [None, True, False], ids=["absent", "on", "off"])
@pytest.mark.parametrize("generation_prompt", [True, False], ids=["reply", "no-reply"])
@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
def test_chat_template_gives_transformers_prompt(pair, conversation, generation_prompt, thinking):
    ours, theirs = pair
    messages = CONVERSATIONS[conversation]
    variables = {} if thinking is None else {"enable_thinking": thinking}
    for tokenize in (False, True):
        expected = _transformers_prompt(theirs, messages, generation_prompt, thinking, tokenize)
        got = ours.apply_chat_template(
            messages, add_generation_prompt=generation_prompt, tokenize=tokenize, **variables
        )
        assert got == expected


def test_prompt_builder_builds_the_same_prompts(pair):
    ours, theirs = pair
    try:
        reference = PromptBuilder(theirs)
    except EngineError as refused:  # qwen2-defaults: <|endoftext|> is the unknown token
        with pytest.raises(EngineError, match=re.escape(str(refused))):
            PromptBuilder(ours)
        return
    mine = PromptBuilder(ours)
    assert (mine.special, mine.thinking, mine.may_think) == (
        reference.special, reference.thinking, reference.may_think,
    )  # fmt: skip
    assert mine.longest_token() == reference.longest_token()
    for messages in CONVERSATIONS.values():
        chat = [ChatMessage(m["role"], m["content"], reasoning=m.get("reasoning_content", ""))
                for m in messages]  # fmt: skip
        for thinking in (None, True, False):
            assert mine.encode(chat, enable_thinking=thinking) == reference.encode(
                chat, enable_thinking=thinking
            )
        if chat[-1].role == "assistant":
            assert mine.encode(chat, continue_last=True) == reference.encode(chat, True)


def test_template_errors_are_transformers_errors(tiny_source, tmp_path):
    from transformers import AutoTokenizer

    folder = VARIANTS["hand-written-template"](tiny_source, tmp_path / "t")
    messages = [{"role": "tool", "content": "42"}]
    caught = []
    for tok in (ChatTokenizer.from_folder(folder), AutoTokenizer.from_pretrained(str(folder))):
        with pytest.raises(jinja2.TemplateError) as error:
            tok.apply_chat_template(messages)
        caught.append((type(error.value), str(error.value)))
    assert caught[0] == caught[1] == (jinja2.TemplateError, "Unknown role: tool")


# -- which folders, and bad ones ------------------------------------------------------------


def test_other_folders_stay_with_transformers(tiny_source, tmp_path):
    """A slow-only tokenizer (no tokenizer.json) and a folder whose code runs are transformers'."""
    slow = slow_only(tiny_source, tmp_path / "slow")
    assert not reads_folder(slow) and reads_folder(tiny_source)
    tokenizer = load_tokenizer(slow, "qwen2")
    assert not isinstance(tokenizer, ChatTokenizer)
    builder = PromptBuilder(tokenizer)
    assert builder.decode(builder.encode([ChatMessage("user", "hi")])).endswith(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert not isinstance(load_tokenizer(tiny_source, "qwen2", True), ChatTokenizer)


def test_unreadable_files_are_named(tiny_source, tmp_path):
    folder = VARIANTS["class-from-model-type"](tiny_source, tmp_path / "t")
    (folder / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerFileError, match=r"^tokenizer\.json cannot be read"):
        ChatTokenizer.from_folder(folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(TokenizerFileError, match=r"has no tokenizer\.json\.$"):
        ChatTokenizer.from_folder(folder)
    (folder / "tokenizer_config.json").write_text("[1, 2")
    with pytest.raises(TokenizerFileError, match=r"^tokenizer_config\.json is not valid JSON"):
        ChatTokenizer.from_folder(folder)


CHILD = """
import sys
from pathlib import Path
from qwen_tui.engine.generate.prompt import PromptBuilder
from qwen_tui.engine.models import load_tokenizer
from qwen_tui.engine.types import ChatMessage
from qwen_tui.errors import EngineError

for folder, family in zip(sys.argv[1::2], sys.argv[2::2]):
    builder = PromptBuilder(load_tokenizer(Path(folder), family))
    ids = builder.encode([ChatMessage("user", "hi")], enable_thinking=False)
    assert builder.decode(ids).endswith("<|im_start|>assistant\\n" + (
        "<think>\\n\\n</think>\\n\\n" if family == "qwen3" else ""
    )), builder.decode(ids)
    builder.longest_token(), builder.thinking
print(sorted(m for m in ("transformers", "torch", "bigdl") if m in sys.modules))
"""


def test_the_chat_path_imports_neither_transformers_nor_torch(tiny_source, qwen3_source):
    root = Path(__file__).parents[2]
    env = os.environ | {"PYTHONPATH": str(root)}
    args = [str(tiny_source), "qwen2", str(qwen3_source), "qwen3"]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
