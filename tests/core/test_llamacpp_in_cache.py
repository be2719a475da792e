"""scripts/llamacpp_in_cache.py times llama.cpp's own kernels (peers.sh's AVX2 build) on weights
in L2: what it times must be the real product of the quantized weights, in the format named."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from llama_peer import llama_lib_dir

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "llamacpp_in_cache.py"
BITS = {"q6_K": 6.5625, "q8_0": 8.5, "q4_0": 4.5, "q4_0_8x8": 4.5}
# root-mean-square quantization error over the weights' spread: bounds a few times above what
# each format's step gives, far below what a wrong layout or a wrong type would
ERROR = {"q6_K": 0.05, "q8_0": 0.01, "q4_0": 0.15, "q4_0_8x8": 0.15}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("llamacpp_in_cache", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harness(script):
    return script.Harness(llama_lib_dir())


def _activation(script, harness, matvec) -> np.ndarray:
    """The quantized activation row as the kernel saw it (Q8_K has no ggml to_float)."""
    data, cols = matvec.x_quantized, matvec.cols
    if matvec.activation_type == script.GGML_TYPES["q8_K"]:
        block = np.dtype([("d", "<f4"), ("qs", "i1", 256), ("bsums", "<i2", 16)])
        blocks = data.view(block)
        return (blocks["d"][:, None] * blocks["qs"]).reshape(cols)
    assert matvec.activation_type == script.GGML_TYPES["q8_0"]
    return harness.dequantize(matvec.activation_type, data, cols)


@pytest.mark.parametrize("kind", list(BITS))
def test_the_timed_matvec_is_the_product_of_the_quantized_weights(script, harness, kind):
    rng = np.random.default_rng(7)
    weights = rng.standard_normal((24, 768), np.float32) * 0.02
    x = rng.standard_normal(768, np.float32)
    matvec = script.Matvec(harness, script.KINDS[kind], weights, x)
    matvec.seconds(0.0)  # one batch of timed calls; out keeps the last product

    assert matvec.held.nbytes * 8 / weights.size == BITS[kind]
    dequantized = matvec.dequantized_weights()
    error = np.sqrt(np.mean((dequantized - weights) ** 2)) / weights.std()
    assert error < ERROR[kind]
    activation = _activation(script, harness, matvec).astype(np.float64)
    assert np.abs(activation - x).max() < 0.05 * np.abs(x).max()
    want = dequantized.astype(np.float64) @ activation
    np.testing.assert_allclose(matvec.out, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_the_script_reports_each_kind_from_the_build_beside_ours():
    lib_dir = llama_lib_dir()
    command = [sys.executable, str(SCRIPT), "--lib-dir", str(lib_dir), "--kinds", "q8_0,q6_K"]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["llama_cpp"]["avx2"]  # every build these tests see
    assert set(got["llama_cpp"]["kinds"]) == {"q8_0", "q6_K"}
    for kind, rate in got["llama_cpp"]["kinds"].items():
        assert rate["bytes"] * 8 == BITS[kind] * rate["rows"] * got["cols"]
        assert rate["gb_s"] > 0 and rate["g_weights_s"] > 0
    ours = got["ours"]["formats"]
    assert set(ours) == {"sym_int8", "sym_int5"}
    assert ours["sym_int5"]["bits_per_weight"] == 5.25 and ours["sym_int8"]["gb_s"] > 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--lib-dir", "/nonexistent"], "no libggml-cpu.so in"),
        (
            ["--lib-dir", "/nonexistent", "--cols", "896"],
            "--cols must be a positive multiple of 256",
        ),
        (["--lib-dir", "/nonexistent", "--kinds", "q5_K"], "unknown kind q5_K"),
    ],
)
def test_bad_input_gets_one_sentence_and_no_traceback(args, says):
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
    assert done.returncode != 0
    assert says in done.stderr and "Traceback" not in done.stderr
