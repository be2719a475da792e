"""llama.cpp's compute ceiling beside ours: the bytes of Q6_K, Q8_0 and Q4_0 weights one thread
of a llama.cpp build multiplies a second when the weights already sit in L2, measured as
``qwen_tui.bench.ceiling.in_cache_rate`` measures our formats (issue 24: on AVX2, mixed_int5
and sym_int8 should at least match llama.cpp's Q6_K and Q8_0).

llama-cpp-python has no entry point for one matvec, so a small C harness is compiled here
against the build's own libraries (``--lib-dir``, the ``llama_cpp/lib`` of a llama-cpp-python
install, its headers in the ``include/`` beside it) and runs what ggml's mul_mat runs for one
decoded token: quantize the activation row with ``from_float`` of the weight type's
``vec_dot_type``, then ``vec_dot`` over every row. On x86 that is all llama.cpp does for Q6_K
and Q8_0 (llamafile's sgemm needs two or more activation rows; ggml's repack leaves these two
types alone there). Q4_0 is the exception: on AVX2 llama.cpp repacks it eight rows at a time
and runs ``ggml_gemv_q4_0_8x8_q8_0``, reported as ``q4_0_8x8`` beside plain ``q4_0``. And
a "Q6_K" GGUF of Qwen2.5-0.5B is mostly Q8_0: llama-quant.cpp stores a tensor whose inputs are
no multiple of 256 (its 896) in Q8_0, so only ``ffn_down`` (4864 inputs) is Q6_K there.

Sizes as ``in_cache_rate``: ``ceiling.COLS`` inputs, as many 16-row groups as fit in
``ceiling.L2_BYTES``, random weights * 0.02, the fastest of three timings of
``ceiling.SECONDS``. The loop is in C, so there is no call overhead to subtract.

Two rates per type, for two questions:

- GB/s of quantized weight bytes: whether compute keeps up with memory. A token reads every
  weight byte once; a format whose in-cache GB/s times the threads falls below the machine's
  read bandwidth is compute-bound (``bench``'s ``compute.ceiling_tok_s``).
- G weights/s: which engine's compute costs a token less on the same model. Bytes per weight
  differ (Q6_K 6.56 bits, sym_int5 5.25; Q8_0 and sym_int8 8.5; Q4_0 4.5, sym_int4 4.25), and
  a smaller format needs fewer GB/s for the same speed, so head to head this is the fair one.

Ours (sym_int5 for Q6_K: mixed_int5 keeps the MLP's gate and up there, the rest is sym_int8;
sym_int8 for Q8_0; sym_int4 for Q4_0) are measured in the same process, on the variant
``QWEN_TUI_ISA`` chooses; ``--no-ours`` leaves them out. One thread, a few seconds:

    LIB=~/.cache/qwen-tui-peers/llama-server-avx2/lib/python3.11/site-packages/llama_cpp/lib
    QWEN_TUI_ISA=avx2 .venv/bin/python scripts/llamacpp_in_cache.py --lib-dir $LIB [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HARNESS_C = Path(__file__).with_suffix(".c")  # compiled at each run, against --lib-dir

GGML_TYPES = {"q4_0": 2, "q8_0": 8, "q6_K": 14, "q8_K": 15}


@dataclass(frozen=True)
class Kind:
    name: str
    ggml_type: str
    repacked: bool  # Q4_0 as llama.cpp's decode holds it on AVX2
    ours: str  # our format it is compared with


KINDS = {
    k.name: k
    for k in (
        Kind("q6_K", "q6_K", False, "sym_int5"),
        Kind("q8_0", "q8_0", False, "sym_int8"),
        Kind("q4_0", "q4_0", False, "sym_int4"),
        Kind("q4_0_8x8", "q4_0", True, "sym_int4"),
    )
}


class HarnessError(RuntimeError):
    """The harness cannot be built or run against the given build."""


class Harness:
    """The compiled harness, linked against one llama.cpp build's ggml libraries."""

    def __init__(self, lib_dir: Path, include_dir: Path | None = None) -> None:
        lib_dir = lib_dir.expanduser().resolve()
        include_dir = include_dir or lib_dir.parent.parent / "include"
        if not (lib_dir / "libggml-cpu.so").is_file():
            raise HarnessError(f"no libggml-cpu.so in {lib_dir}: give llama_cpp/lib of an install")
        if not (include_dir / "ggml-cpu.h").is_file():
            raise HarnessError(f"no ggml-cpu.h in {include_dir}: give --include-dir")
        if shutil.which("cc") is None:
            raise HarnessError("no C compiler (cc) on PATH: install gcc or clang")
        with tempfile.TemporaryDirectory() as tmp:
            library = Path(tmp) / "harness.so"
            build = ["cc", "-O2", "-shared", "-fPIC", str(HARNESS_C), "-o", str(library),
                     f"-I{include_dir}", f"-L{lib_dir}", f"-Wl,-rpath,{lib_dir}",
                     "-lggml-cpu", "-lggml-base"]  # fmt: skip
            done = subprocess.run(build, capture_output=True, text=True)
            if done.returncode:
                raise HarnessError(f"the harness did not compile:\n{done.stderr}")
            self.lib = ctypes.CDLL(str(library))  # mapped: the file can go
        self.lib_dir = lib_dir
        void_p, size_t, c_int = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        self.lib.ggml_row_size.restype = size_t
        self.lib.ggml_row_size.argtypes = [c_int, ctypes.c_int64]
        self.lib.dequantize.argtypes = [c_int, void_p, void_p, ctypes.c_int64]
        self.lib.quantize_weights.argtypes = [c_int, void_p, void_p, c_int, c_int]
        self.lib.repack_q4_0_8x8.argtypes = [void_p, void_p, c_int, c_int]
        self.lib.seconds_per_multiply.restype = ctypes.c_double
        self.lib.seconds_per_multiply.argtypes = (
            [c_int, c_int] + [void_p] * 4 + [c_int] * 2 + [ctypes.c_double]
        )
        built = self.lib.harness_init()
        self.avx2, self.avx512 = bool(built & 1), bool(built & 2)

    def row_bytes(self, ggml_type: int, cols: int) -> int:
        return int(self.lib.ggml_row_size(ggml_type, cols))

    def dequantize(self, ggml_type: int, data: np.ndarray, count: int) -> np.ndarray:
        out = np.empty(count, np.float32)
        self.lib.dequantize(ggml_type, data.ctypes.data, out.ctypes.data, count)
        return out


class Matvec:
    """One kind's quantized weight and activation, multiplied by the harness."""

    def __init__(self, harness: Harness, kind: Kind, weights: np.ndarray, x: np.ndarray) -> None:
        self.harness, self.kind = harness, kind
        self.type = GGML_TYPES[kind.ggml_type]
        self.rows, self.cols = weights.shape
        if self.cols % 256 or (kind.repacked and self.rows % 8):
            raise HarnessError(f"{kind.name} needs a multiple of 256 columns (and of 8 rows)")
        lib = harness.lib
        self.weights = np.empty(self.rows * harness.row_bytes(self.type, self.cols), np.uint8)
        values = np.ascontiguousarray(weights, np.float32)
        lib.quantize_weights(self.type, values.ctypes.data, self.weights.ctypes.data,
                             self.rows, self.cols)  # fmt: skip
        self.held = self.weights  # what the kernel reads
        if kind.repacked:
            self.held = np.empty_like(self.weights)
            lib.repack_q4_0_8x8(self.weights.ctypes.data, self.held.ctypes.data,
                                self.rows, self.cols)  # fmt: skip
        self.x = np.ascontiguousarray(x, np.float32)
        self.activation_type = int(lib.activation_type(self.type))
        self.x_quantized = np.empty(harness.row_bytes(self.activation_type, self.cols), np.uint8)
        self.out = np.zeros(self.rows, np.float32)

    def seconds(self, min_seconds: float) -> float:
        """Seconds per matvec over ``min_seconds`` of them; ``out`` holds the product."""
        return float(self.harness.lib.seconds_per_multiply(
            self.type, int(self.kind.repacked), self.held.ctypes.data, self.x.ctypes.data,
            self.x_quantized.ctypes.data, self.out.ctypes.data, self.rows, self.cols, min_seconds,
        ))  # fmt: skip

    def dequantized_weights(self) -> np.ndarray:
        count = self.rows * self.cols
        return self.harness.dequantize(self.type, self.weights, count).reshape(self.rows, -1)


def _rates(weight_bytes: int, weights: int, seconds: float) -> dict:
    return {"bits_per_weight": round(weight_bytes * 8 / weights, 3),
            "gb_s": round(weight_bytes / seconds / 1e9, 2),
            "g_weights_s": round(weights / seconds / 1e9, 2)}  # fmt: skip


def llama_rate(harness: Harness, kind: Kind, cols: int) -> dict:
    """One thread's rate on ``kind``, sized and timed as ``ceiling.in_cache_rate``."""
    from qwen_tui.bench import ceiling

    group_bytes = 16 * harness.row_bytes(GGML_TYPES[kind.ggml_type], cols)
    rows = max(16, ceiling.L2_BYTES // group_bytes * 16)
    weights = np.random.default_rng(0).standard_normal((rows, cols), np.float32) * 0.02
    x = np.random.default_rng(1).standard_normal(cols, np.float32)
    matvec = Matvec(harness, kind, weights, x)
    best = min(matvec.seconds(ceiling.SECONDS) for _ in range(3))
    return {"rows": rows, "bytes": matvec.held.nbytes} | _rates(
        matvec.held.nbytes, rows * cols, best
    )


def our_rate(fmt: str) -> dict:
    """``ceiling.in_cache_rate(fmt)`` with the sizes it measured."""
    from qwen_tui.bench import ceiling
    from qwen_tui.engine.kernels.weights import packed_bytes

    rows = max(16, ceiling.L2_BYTES // packed_bytes(fmt, 16, ceiling.COLS) * 16)
    size = packed_bytes(fmt, rows, ceiling.COLS)
    seconds = size / ceiling.in_cache_rate(fmt)
    return {"rows": rows, "bytes": size} | _rates(size, rows * ceiling.COLS, seconds)


def _line(name: str, rate: dict) -> str:
    return (f"  {name:<9} {rate['rows']:>4} rows {rate['bytes'] / 1024:6.1f} KB "
            f"{rate['bits_per_weight']:5.2f} bits  {rate['gb_s']:6.2f} GB/s "
            f"{rate['g_weights_s']:6.2f} G weights/s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lib-dir", type=Path, required=True,
                        help="llama_cpp/lib of a llama-cpp-python install")  # fmt: skip
    parser.add_argument(
        "--include-dir", type=Path, help="its ggml headers (default: ../../include)"
    )
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS)
    )
    parser.add_argument(
        "--cols", type=int, help="inputs of the weight, ours too (default: ceiling.COLS)"
    )
    parser.add_argument("--no-ours", action="store_true", help="leave out our formats")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()

    from qwen_tui.bench import ceiling

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        print(f"unknown kind {', '.join(unknown)}: choose from {', '.join(KINDS)}", file=sys.stderr)
        return 2
    if args.cols is not None:
        if args.cols <= 0 or args.cols % 256:
            print("--cols must be a positive multiple of 256, Q6_K's block (Qwen2.5-0.5B's 4864 "
                  "is; its 896 is not)", file=sys.stderr)  # fmt: skip
            return 2
        ceiling.COLS = args.cols  # in_cache_rate reads it at each call
    try:
        harness = Harness(args.lib_dir, args.include_dir)
        llama = {k: llama_rate(harness, KINDS[k], ceiling.COLS) for k in kinds}
    except HarnessError as error:
        print(f"{error}", file=sys.stderr)
        return 1
    result: dict = {
        "cols": ceiling.COLS,
        "llama_cpp": {
            "lib_dir": str(harness.lib_dir),
            "avx2": harness.avx2,
            "avx512": harness.avx512,
            "kinds": llama,
        },
    }
    if not args.no_ours:
        from qwen_tui.engine.kernels import chosen_isa

        isa = chosen_isa()
        formats = dict.fromkeys(KINDS[k].ours for k in kinds)
        result["ours"] = {"isa": isa.name, "note": isa.note,
                          "formats": {f: our_rate(f) for f in formats}}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    built = "AVX-512" if harness.avx512 else "AVX2" if harness.avx2 else "neither AVX2 nor AVX-512"
    print(f"one thread, weights in L2, {ceiling.COLS} inputs a row")
    print(f"llama.cpp ({harness.lib_dir}, compiled for {built}):")
    for name, rate in llama.items():
        print(_line(name, rate) + f"   vs {KINDS[name].ours}")
    if "ours" in result:
        ours = result["ours"]
        print(f"ours ({ours['isa']}{'; ' + ours['note'] if ours['note'] else ''}):")
        for name, rate in ours["formats"].items():
            print(_line(name, rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
