"""Scratch memory kept for the next prompt: freed tensors come back without page faults."""

import resource

import pytest
import torch

from qwen_tui.engine.runtime import memory


def page_faults(fn) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_scratch_is_faulted_in_once_and_kept():
    size = 20 << 18  # 20 MB of float32: 5,120 pages when they are new
    memory.trim_heap()
    assert page_faults(lambda: torch.ones(size)) > 2000  # glibc's default: fresh pages
    if not memory.keep_scratch():
        pytest.skip("not glibc's malloc")
    faults = [page_faults(lambda: torch.ones(size)) for _ in range(8)]
    assert sum(faults) < 1000, faults  # served from the kept pages
    memory.trim_heap()  # unloading hands them back
    assert page_faults(lambda: torch.ones(size)) > 2000
