"""scripts/synthetic_gguf.py writes random weights of a Qwen3.5's dimensions as llama.cpp's
converter would, so both engines can be timed on the same model: the file reads back as the
random source's weights (through our GGUF reader, which undoes the converter's steps), and
llama.cpp computes the same logits from it as our float reference does."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from llama_peer import llama_python

from qwen_tui.bench import synthetic
from qwen_tui.eval.float_reference import _floats, open_reference
from qwen_tui.families import family_for
from qwen_tui.recipes import RECIPES
from qwen_tui.store.sources.gguf import GgufSource
from qwen_tui.store.sources.random import RandomSource

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "synthetic_gguf.py"
# hidden, inter, layers, heads, kv heads, head_dim, key heads, value heads (two per key head:
# the converter's tiling moves them), key and value widths, vocab (past the template's 486)
TINY = (64, 128, 4, 2, 1, 32, 2, 4, 16, 16, 1000, True)
LOGITS = """
import json, sys
import numpy as np
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=64, n_batch=64, n_threads=1, logits_all=True,
            type_k=0, type_v=0, verbose=False)
ids = json.loads(sys.argv[2])
llm.eval(ids)
np.save(sys.argv[3], np.asarray(llm.scores[: len(ids)], dtype=np.float32))
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("synthetic_gguf", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(synthetic.HYBRID, "tiny-q35", TINY)
        script.write("tiny-q35", out)
    return out


def test_the_file_holds_the_random_sources_weights(written):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(synthetic.HYBRID, "tiny-q35", TINY)
        config = synthetic.synthetic_config("tiny-q35")
    family = family_for(config["model_type"])
    dims = family.dims(config)
    plan = family.plan(dims, RECIPES["sym_int8"])
    randoms, source = RandomSource(plan), GgufSource(written)
    assert sorted(source.names()) == sorted(randoms.names())
    for name in randoms.names():
        shape = source.info(name).shape
        with randoms.read(name) as data:
            want = np.array(data.array, np.float32).reshape(shape)
        with source.read(name) as data:
            got = _floats(data).reshape(shape)
        if want.ndim >= 2 and "conv1d" not in name:  # matrices in F16
            want = want.astype(np.float16).astype(np.float32)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=name)
    assert len(GgufSource(written).held()) == len(randoms.held())


def test_llama_cpp_computes_our_float_references_logits_from_it(written, tmp_path):
    python = llama_python()
    ids = [3, 17, 900, 250, 999, 42, 7, 512]  # the padded vocabulary's rows too
    out = tmp_path / "logits.npy"
    done = subprocess.run([python, "-c", LOGITS, str(written), json.dumps(ids), str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = np.load(out)
    ours = open_reference(written).logits(ids)
    assert theirs.shape == ours.shape == (len(ids), TINY[10])
    spread = np.abs(ours).max()
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-3 * spread)
    assert np.abs(ours[1:] - ours[:-1]).max() > 100 * 1e-3 * spread  # positions differ
