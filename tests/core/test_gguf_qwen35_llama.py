"""llama.cpp (llama-cpp-python 0.3.36, the peer tests/llama_peer.py finds) runs the tiny
Qwen3.5 its converter wrote (tests/fixtures/qwen35_gguf/qwen35-f32.gguf, with its MTP layer)
and gives transformers' logits for the fixture's prompt: 1.8e-5 apart at most (4.0e-6 of the
largest logit; 1.7e-5 from a build for this machine's CPU) with a float32 KV cache, 7.6e-4 with
llama.cpp's default float16 one. So the file, the converter's steps and the two implementations
agree; ours from the same file is test_gguf_qwen35.py's."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from llama_peer import llama_python
from qwen35_gguf import F32_GGUF, REFERENCE
from safetensors.numpy import load_file

LOGITS = """
import json, sys
import numpy as np
from llama_cpp import Llama
ids = json.loads(sys.argv[2])
# type_k/type_v 0: GGML_TYPE_F32, the keys and values kept as computed
llm = Llama(model_path=sys.argv[1], n_ctx=64, n_batch=64, n_threads=1, logits_all=True,
            type_k=0, type_v=0, verbose=False)
llm.eval(ids)
np.save(sys.argv[3], np.asarray(llm.scores[: len(ids)], dtype=np.float32))
"""


def test_llama_cpp_gives_transformers_logits_from_the_converted_file(tmp_path):
    python = llama_python()
    recorded = load_file(str(REFERENCE / "reference.safetensors"))
    ids = recorded["ids"].tolist()
    out = tmp_path / "logits.npy"
    done = subprocess.run([python, "-c", LOGITS, str(F32_GGUF), json.dumps(ids), str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    theirs, want = np.load(out), recorded["logits"]
    assert theirs.shape == want.shape
    np.testing.assert_allclose(theirs, want, rtol=0, atol=1e-4 * np.abs(want).max())
