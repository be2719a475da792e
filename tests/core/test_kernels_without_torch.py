"""The kernels package imports without torch: its torch functions load on first use,
``kernels.arrays`` checks numpy arrays before their addresses reach C, and the C sampler runs
on numpy."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qwen_tui.engine import kernels
from qwen_tui.engine.kernels import arrays, torch_api
from qwen_tui.engine.kernels.formats import FORMATS

ROOT = Path(__file__).parents[2]

TORCH_FREE = """
import sys
import numpy as np
import qwen_tui.engine.kernels as kernels
from qwen_tui.engine.kernels import arrays, formats

fmt = formats.FORMATS["sym_int8"]
raw = np.zeros(fmt.block_bytes, np.uint8)
raw[:4] = np.frombuffer(np.float32(0.5).tobytes(), np.uint8)
raw[4] = 6
values = arrays.require(formats.dequantize_array(raw, fmt, 1, 64), "w", np.float32, shape=(1, 64))
assert values[0, 0] == 3.0 and not values[0, 1:].any(), values
kernels.chosen_isa(), kernels.float_kernels(), kernels.packed_bytes(fmt, 16, 64)

from qwen_tui.engine.generate.native_sampling import NativeSampler
from qwen_tui.engine.types import GenerationParams

sampler = NativeSampler(GenerationParams(temperature=0.7, top_k=20, top_p=0.8, seed=1))
assert sampler.next_token([1, 2], np.arange(100, dtype=np.float32)) >= 80
print(sorted(name for name in ("torch", "transformers", "bigdl") if name in sys.modules))
"""


def run_child(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_kernels_their_array_checks_and_the_sampler_run_without_torch():
    assert run_child(TORCH_FREE) == "[]"


def test_the_torch_functions_are_still_reached_through_the_package():
    public = [
        name
        for name, value in vars(torch_api).items()
        if not name.startswith("_") and getattr(value, "__module__", "") == torch_api.__name__
    ]
    assert sorted(public) == sorted(kernels.TORCH_API)
    for name in public:
        assert getattr(kernels, name) is getattr(torch_api, name)
        assert name in dir(kernels)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        kernels.nothing_here  # noqa: B018


def test_the_numpy_dequantizer_reads_the_bytes_the_torch_one_does():
    fmt = FORMATS["asym_int5"]
    raw = np.random.default_rng(0).integers(0, 256, 3 * 2 * fmt.block_bytes, dtype=np.uint8)
    raw.reshape(6, fmt.block_bytes)[:, :4] = np.array([0.25, -1.0], np.float16).view(
        np.uint8
    )  # d, m
    from_torch = kernels.formats.dequantize(torch.from_numpy(raw), fmt, 3, 128)
    assert np.array_equal(kernels.formats.dequantize_array(raw, fmt, 3, 128), from_torch.numpy())


GOOD = np.arange(64, dtype=np.float32)


def at_boundary(count, past=0):
    """float32 [count] whose data starts ``past`` bytes after a 64-byte boundary."""
    base = np.zeros(count + 32, np.float32)
    start = (-base.ctypes.data % 64 + past) // 4
    return base[start : start + count]


@pytest.mark.parametrize(
    ("array", "checks", "complaint"),
    [
        ([1.0, 2.0], {}, "must be a numpy array, not list"),
        (GOOD.astype(np.float64), {}, "must be float32, not float64"),
        (GOOD.reshape(8, 8), {"dims": 1}, "must have 1 dimensions, not 2"),
        (GOOD.reshape(8, 8), {"shape": (4, 16)}, r"must have the shape \(4, 16\), not \(8, 8\)"),
        (GOOD, {"size": 63}, "must hold 63 values, not 64"),
        (GOOD[::2], {}, "must be C-contiguous"),
        (GOOD.reshape(8, 8).T, {}, "must be C-contiguous"),
        (np.frombuffer(GOOD.tobytes(), np.float32), {"writable": True}, "must be writable"),
        (at_boundary(8, past=4), {"align": 64}, "must start at a multiple of 64 bytes"),
    ],
)
def test_each_check_refuses_an_array_that_does_not_fit(array, checks, complaint):
    with pytest.raises(kernels.KernelError, match=f"^x {complaint}"):
        arrays.require(array, "x", np.float32, **checks)


def test_a_fitting_array_passes_every_check_as_itself():
    block = at_boundary(64).reshape(8, 8)
    assert arrays.address(block) % 64 == 0
    checks = {"dims": 2, "shape": (8, 8), "size": 64, "writable": True, "align": 64}
    assert arrays.require(block, "x", np.float32, **checks) is block


@pytest.mark.parametrize("bad", [-1, 10])
def test_indices_must_lie_inside_the_table(bad):
    ids = np.array([0, 9, bad], np.int64)
    with pytest.raises(kernels.KernelError, match=r"every value of ids must be in \[0, 10\)"):
        arrays.require_indices(ids, "ids", 10)
    assert arrays.require_indices(ids[:2], "ids", 10) is not None
    with pytest.raises(kernels.KernelError, match="must be int64, not int32"):
        arrays.require_indices(ids.astype(np.int32), "ids", 10)
