"""kernels.weights around the C quantizer: importable without torch, reads read-only file
mappings in place, writes only its own bytes of a reused buffer, and refuses what does not fit
in one sentence, in Python and again in C (test_weight_quantizer.py checks the bytes)."""

import mmap
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels import KernelError, weights

pytestmark = pytest.mark.skipif(not kernels.available(), reason="kernels not built")


def test_the_quantizer_imports_and_runs_without_torch():
    probe = (
        "import sys\n"
        "import numpy as np\n"
        "from qwen_tui.engine.kernels import weights\n"
        "x = np.linspace(-1, 1, 17 * 128, dtype=np.float32)\n"
        "out = weights.quantize_weight('sym_int4', x, 17, 128, packed=True, threads=2)\n"
        "assert out.size == weights.packed_bytes('sym_int4', 17, 128)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'bigdl') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=Path(__file__).parents[2]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_a_read_only_mapping_is_quantized_in_place(tmp_path, dtype):
    rows, cols = 33, 192
    values = np.random.default_rng(5).standard_normal((rows, cols)).astype(np.float32)
    held = values.astype(np.float16) if dtype == "f16" else (values.view(np.uint32) >> 16)
    held = held.astype(np.float16 if dtype == "f16" else np.uint16)
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x" * 4098 + held.tobytes())  # at an offset that is not page-aligned
    mapped = np.memmap(path, dtype=held.dtype, mode="r", offset=4098, shape=held.shape)
    assert not mapped.flags.writeable
    for packed in (False, True):
        expected = weights.quantize_weight(
            "asym_int5", held, rows, cols, packed=packed, threads=1, src_dtype=dtype
        )
        got = weights.quantize_weight(
            "asym_int5", mapped, rows, cols, packed=packed, threads=2, src_dtype=dtype
        )
        assert np.array_equal(got, expected)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        raw = np.frombuffer(m, dtype=held.dtype, count=held.size, offset=4098)
        got = weights.quantize_weight(
            "asym_int5", raw, rows, cols, packed=True, threads=1, src_dtype=dtype
        )
        del raw  # the mapping cannot close while an array points into it
    assert np.array_equal(got, expected)


def test_into_writes_only_the_weights_bytes_and_counts_what_is_not_finite():
    x = np.ones((16, 64), np.float32)
    x[0, 0], x[3, 9], x[15, 63] = np.nan, np.inf, -np.inf
    size = weights.bigdl_bytes("sym_int8", 16, 64)
    out = np.full(size + 100, 0xA5, np.uint8)
    bad = weights.quantize_weight_into("sym_int8", x, 16, 64, out, packed=False, threads=1)
    assert bad == 3
    assert np.array_equal(
        out[:size], weights.quantize_weight("sym_int8", x, 16, 64, packed=False, threads=1)
    )
    assert (out[size:] == 0xA5).all()


def _quantize(src, rows=2, cols=128, **kw):
    kw.setdefault("packed", False)
    kw.setdefault("threads", 1)
    return weights.quantize_weight(kw.pop("fmt", "sym_int4"), src, rows, cols, **kw)


F32 = np.zeros((2, 128), np.float32)


@pytest.mark.parametrize(
    "call, says",
    [
        (lambda: _quantize(np.zeros((2, 100), np.float32), cols=100), "multiple of 64"),
        (lambda: _quantize(F32, fmt="q4_k"), "not a weight format"),
        (lambda: _quantize(F32.astype(np.float64)), "astype(np.float32)"),
        (lambda: _quantize(F32.view(np.uint32).astype(np.uint16)), "src_dtype='bf16'"),
        (lambda: _quantize(F32, src_dtype="bf16"), "uint16 array"),
        (lambda: _quantize(F32, src_dtype="f8"), "is not one of"),
        (lambda: _quantize(np.zeros((2, 256), np.float32)[:, ::2]), "contiguous"),
        (lambda: _quantize(F32, rows=3), "not 3 x 128"),
        (lambda: _quantize(F32.tobytes()), "numpy array"),
        (lambda: _quantize(F32, threads=0), "threads"),
        (
            lambda: weights.quantize_weight_into(
                "sym_int4", F32, 2, 128, np.zeros(10, np.uint8), packed=False, threads=1
            ),
            "needs 136",
        ),
        (lambda: weights.unpack("sym_int4", np.zeros(100, np.uint8), 2, 128), "1088 contiguous"),
    ],
)
def test_what_does_not_fit_is_refused_in_a_sentence(call, says):
    with pytest.raises(KernelError) as refused:
        call()
    assert says in str(refused.value)
    assert str(refused.value).endswith(".")


def test_the_c_side_checks_every_length_itself():
    """Buffers that bypass the wrapper: refused before C reads or writes a byte."""
    native = kernels.library()
    src = np.zeros(2 * 128, np.float32)
    out = np.zeros(weights.bigdl_bytes("sym_int4", 2, 128), np.uint8)
    with pytest.raises(ValueError, match="the source holds 1020 bytes"):
        native.quantize_weight(0, src[1:], 0, 2, 128, out, False, False, 1)
    with pytest.raises(ValueError, match="the output holds"):
        native.quantize_weight(0, src, 0, 2, 128, out[1:], False, False, 1)
    with pytest.raises(ValueError, match="the output holds"):  # packed: 16 rows' worth
        native.quantize_weight(0, src, 0, 2, 128, out, True, False, 1)
    with pytest.raises(ValueError, match="the source holds"):  # float16 is 2 bytes a value
        native.quantize_weight(0, src, 1, 2, 128, out, False, False, 1)
    with pytest.raises(BufferError):  # read-only output
        native.quantize_weight(0, src, 0, 2, 128, out.tobytes(), False, False, 1)
    both = np.zeros(2 * 128 * 4 + out.size, np.uint8)
    with pytest.raises(ValueError, match="overlap"):
        native.quantize_weight(
            0, both[: 2 * 128 * 4], 0, 2, 128, both[8 : 8 + out.size], False, False, 1
        )
    with pytest.raises(ValueError, match="the packed weight holds"):
        native.unpack(0, out, out.copy(), 2, 128)
