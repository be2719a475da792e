"""Memory pages without torch: one buffer on 2 MB pages, and giving freed heap back.

The packed weights live in one buffer the kernel is asked to back with 2 MB pages
(``huge_array``, ``madvise(MADV_HUGEPAGE)``): decode streams every weight once a token, and
with 4 KB pages the hardware prefetchers stop at every page boundary and the TLB misses on
every other one; the machine's read bandwidth is some 10-30 % higher on 2 MB pages. What
loading frees goes back to the system with ``trim_heap`` (``malloc_trim``). Linux and glibc;
elsewhere a plain buffer, and a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import mmap
import os
from typing import Any

import numpy as np

HUGE_PAGE = 2 << 20
HUGE_PAGES_ENV = "QWEN_TUI_HUGE_PAGES"  # "off": 4 KB pages, for comparisons


@functools.cache
def libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def trim_heap() -> None:
    """Give the heap's free memory back to the system (glibc's ``malloc_trim``)."""
    lib = libc()
    if lib is not None and hasattr(lib, "malloc_trim"):
        lib.malloc_trim(0)


M_MMAP_THRESHOLD = -3  # mallopt parameter (glibc's malloc.h)
GLIBC_MMAP_THRESHOLD = 128 << 10  # glibc's own default


def map_large_allocations() -> None:
    """Give what was freed back to the system, and keep every allocation of 128 KiB or more
    mapped on its own from now on (glibc's default, which it raises after large frees, up to
    32 MB, and then keeps freed tensors of a loading model in its heap: loading Coder-0.5B
    peaked anywhere from 1.4 to 2.0 GB with what the process had freed before)."""
    lib = libc()
    if lib is not None and hasattr(lib, "mallopt"):
        lib.mallopt(M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD)
    trim_heap()


def huge_array(nbytes: int) -> tuple[np.ndarray, bool]:
    """A zeroed uint8 array of ``nbytes`` at a 2 MB boundary, which the kernel is asked to back
    with huge pages as it is first written (no page is taken before); and whether it took the
    advice. Where it can't be asked (not Linux, transparent huge pages off, a small buffer),
    a plain zeroed array at a 64-byte boundary and False."""
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    off = os.environ.get(HUGE_PAGES_ENV, "on").strip().lower() in ("off", "0", "no")
    if advice is None or off or nbytes < HUGE_PAGE or not thp_allowed():
        plain = np.zeros(nbytes + 64, np.uint8)
        skip = -plain.ctypes.data % 64
        return plain[skip : skip + nbytes], False
    region = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    whole = np.frombuffer(region, np.uint8)  # keeps the mapping alive
    skip = -whole.ctypes.data % HUGE_PAGE
    try:
        region.madvise(advice, skip, nbytes)
    except OSError:
        return whole[skip : skip + nbytes], False
    return whole[skip : skip + nbytes], True


def thp_allowed() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def huge_page_bytes() -> int:
    """This process's memory on transparent huge pages (Linux), else 0."""
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
