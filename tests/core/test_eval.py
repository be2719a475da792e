"""`qwen-tui eval` and the quality quantize records: real measurements on the tiny model."""

import json
import math

import numpy as np
import pytest
import torch

from qwen_tui.cli import main
from qwen_tui.eval.metrics import change_pct, scores
from qwen_tui.eval.run import default_texts, evaluate


def test_metrics_are_the_textbook_ones():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    ids = [0, 1, 1]  # row 0 predicts ids[1] = 1, row 1 predicts ids[2] = 1
    lp = torch.log_softmax(logits, -1)
    expected = math.exp(-(lp[0, 1] + lp[1, 1]).item() / 2)
    assert math.isclose(scores(logits, ids).ppl, expected, rel_tol=1e-6)
    same = scores(logits, ids, reference=logits)
    assert same.kl == pytest.approx(0.0, abs=1e-7) and same.top1 == 1.0
    other = scores(logits, ids, reference=torch.tensor([[0.0, 2.0, -1.0], [0.0, 3.0, 0.0]]))
    assert other.kl > 0 and other.top1 == 0.5
    assert change_pct(3.03, 3.0) == 1.0


def test_the_default_texts_are_long_enough():
    from transformers import AutoTokenizer  # noqa: F401  (the tiny tokenizer is byte-level)

    for text in default_texts():
        assert len(text.content.encode()) > 4000, text.name


def test_eval_json_on_both_paths_against_the_source(installed_model, tiny_source, tmp_path, capsys):
    mine = tmp_path / "mine.txt"
    mine.write_text("Hello! How can I help you today? 你好，我是一个有用的助手。" * 20)
    code = main(
        [
            "eval",
            "tiny",
            "--reference",
            str(tiny_source),
            "--text",
            str(mine),
            "--tokens",
            "64",
            "--json",
        ]  # fmt: skip
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "tiny-sym_int4" and data["reference"] == str(tiny_source)
    (text,) = data["texts"]
    assert text["name"] == "mine.txt" and text["tokens"] == 64
    prompt, decode = text["prompt"], text["decode"]
    # the decoder computes a position the same way in a prompt or decoded: the same numbers
    assert prompt["ppl"] == pytest.approx(decode["ppl"], rel=1e-6)
    # the reference is the float model as plain transformers runs it (computed here apart from
    # qwen-tui's eval), and int4 differs from it: a reference that were the quantized model
    # itself, or any other model, fails here
    assert text["reference_ppl"] == pytest.approx(plain_perplexity(tiny_source, mine, 64), rel=1e-4)
    assert prompt["kl"] > 1e-4 and prompt["top1"] < 1.0
    assert abs(prompt["change_pct"]) > 0.01
    assert prompt["change_pct"] == change_pct(prompt["ppl"], text["reference_ppl"])


def plain_perplexity(folder, text_file, tokens: int) -> float:
    """exp(mean cross-entropy of each next token) of the first ``tokens`` tokens, by plain
    transformers in float32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32).eval()
    ids = tokenizer.encode(text_file.read_text(encoding="utf-8"))[:tokens]
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0]
    nll = torch.nn.functional.cross_entropy(logits[:-1].double(), torch.tensor(ids[1:]))
    return math.exp(nll.item())


def test_eval_refuses_what_it_cannot_read(installed_model, tmp_path, capsys):
    assert main(["eval", "tiny", "--reference", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfa not utf-8")
    assert main(["eval", "tiny", "--text", str(bad)]) == 2
    assert "as UTF-8 text" in capsys.readouterr().err
    assert main(["eval", "tiny", "--tokens", "1"]) == 2


def test_quantize_records_the_quality_and_models_shows_it(tiny_source, tmp_path, capsys):
    assert main(["quantize", str(tiny_source), "--name", "q", "--low-bit", "sym_int8"]) == 0
    out = capsys.readouterr().out
    assert "quality: perplexity" in out and "vs source" in out
    assert main(["models", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["local"]
    quality = row["quality"]
    assert set(quality["texts"]) == {"english", "code", "chinese"}
    assert quality["reference"] == str(tiny_source.resolve())
    assert quality["worst_change_pct"] == max(t["change_pct"] for t in quality["texts"].values())
    english = tmp_path / "english.txt"
    english.write_text(default_texts()[0].content, encoding="utf-8")
    assert quality["texts"]["english"]["reference_ppl"] == pytest.approx(
        plain_perplexity(tiny_source, english, 512), rel=1e-4
    )
    assert row["recipe"]["default"] == "sym_int8"
    assert main(["models"]) == 0
    assert "quality: perplexity" in capsys.readouterr().out


def whole_matrix_scores(logits, ids, reference):
    """Perplexity, KL(reference || model) and top-1 from whole [n, vocab] matrices, float64."""
    q = torch.log_softmax(torch.as_tensor(np.asarray(logits)).double(), -1)
    p = torch.log_softmax(torch.as_tensor(np.asarray(reference)).double(), -1)
    targets = torch.tensor(ids[1:])
    n = len(targets)
    q, p = q[:n], p[:n]
    ppl = math.exp(-q[torch.arange(n), targets].mean().item())
    kl = (p.exp() * (p - q)).sum(-1).mean().item()
    top1 = (p.argmax(-1) == q.argmax(-1)).double().mean().item()
    return ppl, kl, top1


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_scores_in_chunks_equal_the_whole_matrix(kind):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (150, 1000)).astype(np.float32)  # chunks of 64, 64 and 22
    reference = logits + rng.normal(0, 1, logits.shape).astype(np.float32)
    ids = rng.integers(0, 1000, 151).tolist()
    as_kind = torch.from_numpy if kind == "torch" else np.asarray
    got = scores(as_kind(logits), ids, as_kind(reference))
    ppl, kl, top1 = whole_matrix_scores(logits, ids, reference)
    assert got.ppl == pytest.approx(ppl, rel=1e-6)
    assert got.kl == pytest.approx(kl, rel=1e-5)
    assert got.top1 == top1 and 0.2 < top1 < 0.9


class WholeMatrixOnly:
    """An engine or reference seen only through its whole-matrix method."""

    def __init__(self, inner):
        self.inner = inner

    def encode_text(self, text):
        return self.inner.encode_text(text)

    def score(self, ids, path):
        return self.inner.score(ids, path)

    def logits(self, ids):
        return self.inner.logits(ids)


def test_evaluate_in_chunks_equals_evaluate_on_whole_matrices(engine, tiny_source):
    from qwen_tui.eval.float_reference import open_reference

    texts = default_texts()[:2]
    reference = open_reference(tiny_source)
    chunked = evaluate(engine, texts, 150, reference)  # 150 tokens: a last chunk of 21 rows
    whole = evaluate(WholeMatrixOnly(engine), texts, 150, WholeMatrixOnly(reference))
    assert chunked == whole
    assert chunked["texts"][0]["prompt"]["kl"] > 0


def test_the_quality_check_gives_the_transformers_numbers(tiny_source, tmp_path):
    """measure_quality (the numpy reference from the source, scored in chunks) against the
    check as it was: transformers' float model, both whole [512, vocab] matrices, float64."""
    from transformers import AutoModelForCausalLM

    from qwen_tui.engine.bigdl.engine import BigdlEngine
    from qwen_tui.eval.gate import TOKENS, measure_quality
    from qwen_tui.store.quantize import quantize_folder

    stored = quantize_folder(tiny_source, "q", "sym_int4", root=tmp_path, measure=False)
    quality = measure_quality(stored.path, tiny_source)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_source), torch_dtype=torch.float32)
    engine = BigdlEngine(stored.path, threads=1, kv_cache_mb=0)
    engine.load()
    try:
        for text in default_texts():
            ids = engine.encode_text(text.content)[:TOKENS]
            with torch.inference_mode():
                want = model(input_ids=torch.tensor([ids])).logits[0]
            ppl, kl, top1 = whole_matrix_scores(engine.score(ids), ids, want)
            ref_ppl = whole_matrix_scores(want, ids, want)[0]
            got = quality["texts"][text.name]
            assert got["reference_ppl"] == pytest.approx(ref_ppl, rel=1e-3), text.name
            assert got["ppl"] == pytest.approx(ppl, rel=1e-3), text.name
            assert got["kl"] == pytest.approx(kl, rel=1e-3), text.name
            assert got["top1"] == pytest.approx(top1, rel=1e-3), text.name
    finally:
        engine.unload()
