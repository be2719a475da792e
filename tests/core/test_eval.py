"""`qwen-tui eval` and the quality quantize records: real measurements on the tiny model."""

import json
import math

import pytest
import torch

from qwen_tui.cli import main
from qwen_tui.eval.metrics import change_pct, scores
from qwen_tui.eval.run import default_texts


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
