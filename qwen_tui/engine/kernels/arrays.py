"""Checks on numpy arrays before their addresses reach C (the torch-free twin of
``torch_api._require``).

A C kernel trusts the pointer and the counts it is given, so every array is checked here
first: its type, dtype, number of dimensions or exact shape, C-contiguity, writability (for
outputs), length, alignment, and for indices that each one is in range. A failed check raises
``KernelError``: it means a bug in the caller, never user input. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import KernelError


def require(
    a: Any,
    name: str,
    dtype: type[np.generic] | np.dtype,
    *,
    dims: int | None = None,
    shape: tuple[int, ...] | None = None,
    size: int | None = None,
    writable: bool = False,
    align: int = 1,
) -> np.ndarray:
    """``a`` itself once it is an ndarray of ``dtype``, C-contiguous, with ``dims`` dimensions
    or exactly ``shape``, ``size`` elements, writable if C writes to it, and its data at a
    multiple of ``align`` bytes."""
    if not isinstance(a, np.ndarray):
        raise KernelError(f"{name} must be a numpy array, not {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise KernelError(f"{name} must be {np.dtype(dtype)}, not {a.dtype}")
    if dims is not None and a.ndim != dims:
        raise KernelError(f"{name} must have {dims} dimensions, not {a.ndim}")
    if shape is not None and a.shape != shape:
        raise KernelError(f"{name} must have the shape {shape}, not {a.shape}")
    if size is not None and a.size != size:
        raise KernelError(f"{name} must hold {size} values, not {a.size}")
    if not a.flags.c_contiguous:
        raise KernelError(f"{name} must be C-contiguous")
    if writable and not a.flags.writeable:
        raise KernelError(f"{name} must be writable")
    if align > 1 and address(a) % align:
        raise KernelError(f"{name} must start at a multiple of {align} bytes")
    return a


def require_indices(a: Any, name: str, below: int) -> np.ndarray:
    """``a`` as checked by ``require`` (int64, one dimension), each value in [0, below)."""
    a = require(a, name, np.int64, dims=1)
    if a.size and (int(a.min()) < 0 or int(a.max()) >= below):
        raise KernelError(f"every value of {name} must be in [0, {below})")
    return a


def address(a: np.ndarray) -> int:
    """Where ``a``'s data starts (for a C call, after ``require``)."""
    return int(a.ctypes.data)
