"""Importing GGUF files: the tokenizer rebuilt from metadata, every tensor type dequantized
exactly, the same logits as the same weights from safetensors, and clear refusals."""

import shutil

import pytest
import torch
from gguf import GGMLQuantizationType as T
from gguf_fixture import write_gguf

from qwen_tui.errors import UsageError
from qwen_tui.store.gguf_import import convert_gguf, is_gguf, load_float_model
from qwen_tui.testing.tiny import build_tiny_qwen2

TEXTS = [
    "Hello world! How are you today?",
    "你好，我是一个有用的助手。今天天气很好。",
    "def add(a, b):\n    return a + b\n\n\n  tabs\tand  spaces  ",
    "Emoji test: 😀 🚀 🎉 👍 ❤️ and numbers 12345 3.14",
    "What does [/INST] mean? <|im_end|> typed by a user",
]
WEIGHTS = ["token_embd", "output", "attn_q", "attn_k", "attn_v", "attn_output",
           "ffn_gate", "ffn_up", "ffn_down"]  # fmt: skip


def hf_model_with(src, weights):
    """The source model from safetensors, with ``weights`` put in (what the GGUF holds)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(src), torch_dtype=torch.float32).eval()
    state = model.state_dict()
    for name, value in weights.items():
        state[name] = value
    model.load_state_dict(state)
    return model


def logits_of(model, ids):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0]


def test_the_tokenizer_and_template_come_back_from_the_metadata(wide_source, tmp_path):
    from transformers import AutoTokenizer

    path = tmp_path / "m.gguf"
    write_gguf(wide_source, path, {})
    _, tokenizer = load_float_model(path)
    original = AutoTokenizer.from_pretrained(str(wide_source))
    for text in TEXTS:
        assert tokenizer.encode(text) == original.encode(text), text
        assert tokenizer.decode(tokenizer.encode(text)) == text
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert tokenizer.apply_chat_template(chat, tokenize=False) == original.apply_chat_template(
        chat, tokenize=False
    )
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == original.convert_tokens_to_ids(
        "<|im_end|>"
    )


KINDS = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_tensor_type_gives_the_same_model_as_safetensors(wide_source, tmp_path, kind):
    path = tmp_path / "m.gguf"
    held = write_gguf(wide_source, path, {name: kind for name in WEIGHTS}, seed=kind.value)
    assert is_gguf(path) and not is_gguf(wide_source / "config.json")
    model, tokenizer = load_float_model(path)
    state = model.state_dict()
    for name, value in held.items():
        assert torch.equal(state[name], value), name
    reference = hf_model_with(wide_source, held)
    ids = tokenizer.encode(TEXTS[0] + TEXTS[1])
    assert torch.allclose(logits_of(model, ids), logits_of(reference, ids), atol=1e-4)


def test_a_file_without_an_output_matrix_ties_it_to_the_embeddings(tmp_path):
    src = build_tiny_qwen2(tmp_path / "tied", tie_word_embeddings=True)
    path = tmp_path / "tied.gguf"
    held = write_gguf(src, path, {"token_embd": T.Q8_0})
    folder = tmp_path / "out"
    config = convert_gguf(path, folder)
    assert config["tie_word_embeddings"] is True
    model, tokenizer = load_float_model(path)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    held["lm_head.weight"] = held["model.embed_tokens.weight"]
    ids = tokenizer.encode(TEXTS[2])
    assert torch.allclose(
        logits_of(model, ids), logits_of(hf_model_with(src, held), ids), atol=1e-4
    )


def test_quantizing_a_gguf_equals_quantizing_the_same_weights(wide_source, tmp_path):
    """`quantize FILE.gguf` stores the model that quantizing a folder of the same float weights
    stores: the same bytes, so the same logits; the quality is measured against the GGUF."""
    from qwen_tui.engine.bigdl.engine import BigdlEngine
    from qwen_tui.engine.types import ChatMessage
    from qwen_tui.store.quantize import quantize_folder

    path = tmp_path / "m.gguf"
    held = write_gguf(wide_source, path, {"ffn_up": T.Q4_K, "ffn_down": T.Q6_K, "attn_q": T.Q8_0})
    folder = tmp_path / "same"
    shutil.copytree(wide_source, folder)
    hf_model_with(wide_source, held).save_pretrained(folder, safe_serialization=True)
    root = tmp_path / "store"
    from_gguf = quantize_folder(path, "g", "sym_int4", root=root)
    from_folder = quantize_folder(folder, "f", "sym_int4", root=root, measure=False)
    assert from_gguf.manifest.source == str(path.resolve())
    assert set(from_gguf.manifest.quality["texts"]) == {"english", "code", "chinese"}
    assert not list(root.glob(".tmp-*"))  # the unpacked float folder is gone
    logits = []
    for model in (from_gguf, from_folder):
        engine = BigdlEngine(model.path, threads=1)
        engine.load()
        ids = engine._builder.encode([ChatMessage("user", TEXTS[1])])
        logits.append(engine.score(ids, "prompt"))
        engine.unload()
    assert torch.equal(logits[0], logits[1])


def test_other_architectures_types_and_broken_files_are_refused(wide_source, tmp_path):
    llama = tmp_path / "llama.gguf"
    write_gguf(wide_source, llama, {}, arch="llama")
    with pytest.raises(UsageError, match="'llama' model"):
        load_float_model(llama)
    broken = tmp_path / "broken.gguf"
    good = tmp_path / "good.gguf"
    write_gguf(wide_source, good, {})
    broken.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(UsageError, match="cannot be imported: it ends in the middle of"):
        load_float_model(broken)
    odd = tmp_path / "odd.gguf"
    write_gguf(wide_source, odd, {"ffn_up": T.TQ2_0})
    with pytest.raises(UsageError, match="TQ2_0, which qwen-tui cannot read"):
        load_float_model(odd)
