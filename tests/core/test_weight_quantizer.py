"""Our weight quantizer (csrc/quantize_w.c through kernels.weights) writes bigdl-llm 2.5's bytes.

The oracle is bigdl-llm's own compiled quantizer on the float32 values: ``ggml_convert_qtype``
(the build bigdl-llm picks for this CPU), and its AVX and AVX2 builds called directly, one for
each of our two roundings. Ours reads the values as float32 and, rounded to float16 /
bfloat16, in those widths. Every format, on inputs chosen where the bytes are delicate: the
scale's float16 rounding from subnormal to overflow, exact and near ties (where fusing the
multiply-add decides), blocks of +0.0 and -0.0 (where "the first |x| larger than amax"
decides), subnormals, values near FLT_MAX, infinities and NaN (also counted); row counts around
the 16-row group; one and two threads. Packed, the bytes equal kernels.pack of bigdl-llm's (our
load-time regrouping), and unpack gives bigdl-llm's back.
"""

import ctypes
import functools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels import weights
from qwen_tui.engine.kernels.formats import FORMATS

pytestmark = pytest.mark.skipif(not kernels.available(), reason="kernels not built")
needs_avx2 = pytest.mark.skipif(
    "avx2" not in kernels.supported_isas(),
    reason="bigdl-llm's AVX2 build (the fused rounding's oracle) needs AVX2 and FMA",
)

ROWS = (1, 15, 16, 17, 100)
COLS = 256  # four blocks a row
THREADS = (1, 2)
DTYPES = ("f32", "f16", "bf16")


def normal(sigma: float):
    def make(rng: np.random.Generator) -> np.ndarray:
        return (rng.standard_normal((100, COLS)) * sigma).astype(np.float32)

    return make


def quarter_grid(rng):
    """Multiples of 0.25 in [-2, 2]: x / d lands exactly on halves (ties of both signs, the
    largest magnitude positive first in some blocks, negative first in others); the first rows
    alternate +-0.5 in both orders."""
    x = (rng.integers(-8, 9, (100, COLS)) * 0.25).astype(np.float32)
    x[0] = np.tile([0.5, -0.5], COLS // 2)
    x[1] = np.tile([-0.5, 0.5], COLS // 2)
    x[2, ::64], x[2, 1::64] = 2.0, -2.0
    x[3, ::64], x[3, 1::64] = -2.0, 2.0
    return x


def asym_tie(top: int, rng: np.random.Generator) -> tuple[np.float32, np.float32]:
    """A block maximum m (minimum 0) and a value s for which (s * id) + 0.5, with d = m / top
    and id = 1 / d, truncates to 0 fused but to 1 rounded first: s * id just below the float
    below 0.5, which the rounded product reaches; then + 0.5 is a tie that rounds to even, 1."""
    f = np.float32
    below_half = np.nextafter(f(0.5), f(0))
    while True:
        m = f(rng.uniform(1, 100))
        inv = f(1) / (m / f(top))
        s = f(0.5) / inv
        for _ in range(16):
            exact = float(s) * float(inv)  # exact in float64, as is exact + 0.5
            if f(exact) == below_half and int(f(exact + 0.5)) == 0:
                return m, s
            s = np.nextafter(s, f(0))


def near_ties(rng):
    """Values whose exact x / d is (nearly) a tie but whose rounded product x * id is one:
    truncating x * id + offset gives another integer fused than rounded first. Even rows,
    symmetric: max |x| = 3 (1/d inexact), x = 3j / 32 (halves for 4 and 5 bits); odd rows,
    asymmetric: blocks of 0, their maximum, and asym_tie's value, for 4 then 5 bits."""
    x = np.empty((100, COLS), np.float32)
    sym = (3 * rng.integers(-31, 32, (50, COLS)) / 32).astype(np.float32)
    sym[:, ::64] = rng.choice([-3.0, 3.0], (50, COLS // 64))
    x[::2] = sym
    for row in range(1, 100, 2):
        for block in range(0, COLS, 64):
            m, s = asym_tie(15 if row < 50 else 31, rng)
            x[row, block : block + 64] = rng.uniform(0, m, 64).astype(np.float32)
            x[row, block + rng.integers(2, 64, 8)] = s
            x[row, block], x[row, block + 1] = 0, m
    return x


def zeros(rng):
    """Blocks of +0.0, of -0.0, and of both in either order."""
    x = np.zeros((100, COLS), np.float32)
    x[1::4] = -0.0
    x[2::4] = np.tile(np.array([0.0, -0.0], np.float32), COLS // 2)
    x[3::4] = np.tile(np.array([-0.0, 0.0], np.float32), COLS // 2)
    return x


def tiny(rng):
    """Subnormal and barely normal values: scales that are float32-subnormal, and 1 / d that
    overflows to infinity."""
    sigmas = np.array([1e-45, 1e-39, 1e-38, 1e-37], np.float32)[np.arange(100) % 4, None]
    return (rng.standard_normal((100, COLS)).astype(np.float32) * sigmas).astype(np.float32)


def huge(rng):
    """Near FLT_MAX: max - min and the float16 scale overflow."""
    x = rng.uniform(-3e38, 3e38, (100, COLS)).astype(np.float32)
    x[::3] = rng.standard_normal((34, COLS)).astype(np.float32)
    x[::3, ::64] = np.float32(3e38)
    return x


def nonfinite(rng):
    """+-inf and NaN among numbers (first, last, anywhere), blocks of them alone, +inf with
    -inf: quantized as bigdl-llm quantizes them, and counted."""
    x = rng.standard_normal((100, COLS)).astype(np.float32)
    spots = rng.random((100, COLS)) < 0.02
    x[spots] = rng.choice(np.array([np.inf, -np.inf, np.nan], np.float32), spots.sum())
    x[:, 0] = np.where(np.arange(100) % 3 == 0, np.nan, x[:, 0])
    x[1::7, 63] = np.inf
    x[2::7, :64] = np.nan
    x[3::7, :64] = np.inf
    x[4::7, 64:128] = -np.inf
    x[5::7, 128] = np.inf
    x[5::7, 129] = -np.inf
    return x


KINDS = {
    "normal_1e-5": normal(1e-5),  # float16-subnormal scales
    "normal_1e-3": normal(1e-3),
    "normal_0.02": normal(0.02),
    "normal_1": normal(1.0),
    "normal_1e6": normal(1e6),  # float16 scales overflow
    "quarter_grid": quarter_grid,
    "near_ties": near_ties,
    "zeros": zeros,
    "tiny": tiny,
    "huge": huge,
    "nonfinite": nonfinite,
}


def as_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (round to nearest even; NaN stays NaN), as uint16."""
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return np.where(np.isnan(x), (bits >> 16) | 0x40, rounded).astype(np.uint16)


def given_as(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(the source in ``dtype``, the same values widened to float32: bigdl-llm's input)."""
    if dtype == "f32":
        return x, x
    if dtype == "f16":
        with np.errstate(over="ignore"):
            half = x.astype(np.float16)
        return half, half.astype(np.float32)
    bf = as_bf16(x)
    return bf, (bf.astype(np.uint32) << 16).view(np.float32)


def bigdl_quantize(x: np.ndarray, fmt: str) -> np.ndarray:
    from bigdl.llm.transformers.low_bit_linear import ggml_convert_qtype

    out = ggml_convert_qtype(torch.from_numpy(np.ascontiguousarray(x)), FORMATS[fmt].qtype)
    return out.numpy().copy()


@functools.cache
def bigdl_build(name: str) -> ctypes.CDLL:
    """One of bigdl-llm's builds of its quantizer, loaded on its own (``libllama_avx.so`` ...)."""
    from bigdl.llm.utils.utils import get_shared_lib_info

    lib = ctypes.CDLL(str(get_shared_lib_info("llama")[0] / f"libllama_{name}.so"))
    lib.ggml_quantize_tensor.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.ggml_quantize_tensor.argtypes += [ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
    lib.ggml_quantize_tensor.restype = ctypes.c_size_t
    return lib


def build_quantize(build: str, x: np.ndarray, fmt: str) -> np.ndarray:
    """What ``ggml_convert_qtype`` does, with that build: ggml_quantize_tensor(src, dst, qtype,
    values, row length, histogram)."""
    x = np.ascontiguousarray(x, np.float32)
    out = np.zeros(x.size // 64 * FORMATS[fmt].block_bytes, np.uint8)
    histogram = (ctypes.c_int64 * 16)()
    quantize = bigdl_build(build).ggml_quantize_tensor
    quantize(x.ctypes.data, out.ctypes.data, FORMATS[fmt].qtype, x.size, x.shape[-1], histogram)
    return out


def first_difference(ours: np.ndarray, theirs: np.ndarray) -> str:
    differ = np.flatnonzero(ours != theirs)
    if differ.size == 0:
        return "none"
    return f"{differ.size} bytes, first at {differ[0]}: {ours[differ[0]]} vs {theirs[differ[0]]}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_our_bytes_are_bigdl_llms(fmt, kind):
    x = KINDS[kind](np.random.default_rng(22))
    for dtype in DTYPES:
        source, widened = given_as(x, dtype)
        for rows in ROWS:
            theirs = bigdl_quantize(widened[:rows], fmt)
            regrouped = kernels.pack(FORMATS[fmt], torch.from_numpy(theirs), rows, COLS)
            regrouped_bytes = regrouped.data.numpy()
            expected_bad = int(np.count_nonzero(~np.isfinite(widened[:rows])))
            for threads in THREADS:
                case = f"{fmt}, {kind} as {dtype}, {rows} rows, {threads} threads"
                out = np.full(weights.bigdl_bytes(fmt, rows, COLS), 0xA5, np.uint8)
                bad = weights.quantize_weight_into(
                    fmt, source[:rows], rows, COLS, out, packed=False, threads=threads,
                    src_dtype=dtype,
                )  # fmt: skip
                assert np.array_equal(out, theirs), f"{case}: {first_difference(out, theirs)}"
                assert bad == expected_bad, case
                packed = weights.quantize_weight(
                    fmt, source[:rows], rows, COLS, packed=True, threads=threads, src_dtype=dtype
                )
                assert np.array_equal(packed, regrouped_bytes), (
                    f"{case}, packed: {first_difference(packed, regrouped_bytes)}"
                )
                back = weights.unpack(fmt, packed, rows, COLS)
                assert np.array_equal(back, theirs), f"{case}, unpacked"


@pytest.mark.parametrize(
    "build, fused", [("avx", False), pytest.param("avx2", True, marks=needs_avx2)]
)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_each_rounding_is_that_of_a_bigdl_llm_build(fmt, kind, build, fused):
    """Whatever this CPU is, both roundings against the build of bigdl-llm that does it."""
    x = KINDS[kind](np.random.default_rng(23))
    for dtype in DTYPES:
        source, widened = given_as(x, dtype)
        for rows in (1, 17, 100):
            theirs = build_quantize(build, widened[:rows], fmt)
            for threads in THREADS:
                ours = weights.quantize_weight(
                    fmt, source[:rows], rows, COLS, packed=False, threads=threads,
                    src_dtype=dtype, fused=fused,
                )  # fmt: skip
                case = f"{fmt}, {kind} as {dtype}, {rows} rows, {threads} threads, {build}"
                assert np.array_equal(ours, theirs), f"{case}: {first_difference(ours, theirs)}"


def test_the_rounding_is_the_one_bigdl_llm_picks_for_this_cpu():
    """bigdl-llm's libllama-api.so loads one build per process: the one it maps after a
    quantization is the FMA build exactly where bigdl_fuses() says so."""
    probe = (
        "import json, torch\n"
        "from bigdl.llm.transformers.low_bit_linear import ggml_convert_qtype\n"
        "ggml_convert_qtype(torch.zeros(1, 64), 2)\n"
        "maps = open('/proc/self/maps').read().splitlines()\n"
        "names = {line.rsplit('/', 1)[-1] for line in maps if 'libllama_' in line}\n"
        "print(json.dumps(sorted(names)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mapped = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(mapped) == 1, mapped
    assert (mapped[0] != "libllama_avx.so") == weights.bigdl_fuses(), mapped
