"""Scratch memory kept for the next prompt: freed tensors come back without page faults."""

import pytest
import torch

from qwen_tui.engine.runtime import memory, pages

SCRATCH_PROBE = """
import json, resource, torch
from qwen_tui.engine.runtime import memory

def faults(fn):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

size = 20 << 18  # 20 MB of float32: 5,120 pages when they are new
memory.trim_heap()
fresh = faults(lambda: torch.ones(size))
kept = memory.keep_scratch()
again = [faults(lambda: torch.ones(size)) for _ in range(8)] if kept else []
memory.trim_heap()  # unloading hands them back
print(json.dumps([fresh, kept, again, faults(lambda: torch.ones(size))]))
"""


def test_scratch_is_faulted_in_once_and_kept():
    """In a fresh process: the allocator's state after other tests (a fragmented heap, a
    raised mmap threshold) would decide the first count instead of glibc's defaults."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import qwen_tui

    env = {**__import__("os").environ, "PYTHONPATH": str(Path(qwen_tui.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", SCRATCH_PROBE], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fresh, kept, again, after_trim = json.loads(done.stdout)
    assert fresh > 2000  # glibc's default: fresh pages
    if not kept:
        pytest.skip("not glibc's malloc")
    assert sum(again) < 1000, again  # served from the kept pages
    assert after_trim > 2000


def thp_mode() -> str:
    try:
        text = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return "absent"
    return text.split("[")[1].split("]")[0]


def test_a_huge_buffer_is_on_2_mb_pages_where_the_kernel_allows(monkeypatch):
    mode = thp_mode()
    if mode not in ("always", "madvise"):
        pytest.skip(f"transparent huge pages are {mode} on this machine")
    before = memory.huge_page_bytes()
    buffer, huge = memory.huge_buffer(8 << 20)
    assert huge and buffer.numel() == 8 << 20 and buffer.data_ptr() % (2 << 20) == 0
    buffer.fill_(7)  # the pages are taken as they are written
    assert int(buffer[-1]) == 7
    gained = memory.huge_page_bytes() - before
    if gained == 0:  # advice, not a promise: fragmented memory or defrag off give 4 KB pages
        pytest.skip("the kernel backed this buffer with no huge page (memory fragmented?)")
    assert gained >= 2 << 20
    monkeypatch.setenv(memory.HUGE_PAGES_ENV, "off")
    plain, huge = memory.huge_buffer(8 << 20)
    assert not huge and plain.numel() == 8 << 20


def test_the_packed_weights_share_one_buffer_on_huge_pages(tmp_path, monkeypatch):
    """Every layer on our kernels is a slice of one buffer (64-byte aligned slices), advised
    onto huge pages (a model of some 4 MB: a smaller one stays on 4 KB pages); with the advice
    off the results are the same."""
    from qwen_tui.engine.bigdl import matmul
    from qwen_tui.engine.bigdl.engine import BigdlEngine
    from qwen_tui.engine.types import ChatMessage
    from qwen_tui.store.quantize import quantize_folder
    from qwen_tui.testing.tiny import build_tiny_qwen2

    src = build_tiny_qwen2(tmp_path / "src", hidden_size=512, intermediate_size=2048)
    stored = quantize_folder(src, "wide", "sym_int4", root=tmp_path / "store", measure=False)

    def load():
        engine = BigdlEngine(stored.path, threads=1)
        engine.load()
        return engine

    engine = load()
    try:
        model = engine._lm.model
        packed = [m.__dict__[matmul.PACKED] for m in model.modules() if matmul.PACKED in m.__dict__]
        bases = {p.data.untyped_storage().data_ptr() for p in packed}
        assert len(packed) > 1 and len(bases) == 1
        assert all(p.data.data_ptr() % 64 == 0 for p in packed)
        assert engine.plan.weight_bytes > 2 << 20
        assert engine.plan.huge_pages == (thp_mode() in ("always", "madvise"))
        ids = engine._builder.encode([ChatMessage("user", "hello there")])
        with_arena = engine.score(ids, "prompt")
    finally:
        engine.unload()
    monkeypatch.setenv(memory.HUGE_PAGES_ENV, "off")
    engine = load()
    try:
        assert not engine.plan.huge_pages
        assert torch.equal(engine.score(ids, "prompt"), with_arena)
    finally:
        engine.unload()


def test_pack_into_a_buffer_checks_its_size_and_alignment():
    from qwen_tui.engine import kernels

    if not kernels.available():
        pytest.skip("the kernels are not built")
    fmt = kernels.format_of(2)  # sym_int4
    raw = torch.zeros(4 * 64 // kernels.QK * fmt.block_bytes, dtype=torch.uint8)
    size = kernels.packed_bytes(fmt, 4, 64)
    buffer = torch.zeros(size + 64, dtype=torch.uint8)
    start = -buffer.data_ptr() % 64
    packed = kernels.pack(fmt, raw, 4, 64, out=buffer[start : start + size])
    assert packed.data.data_ptr() == buffer.data_ptr() + start
    with pytest.raises(kernels.KernelError, match="64-byte boundary"):
        kernels.pack(fmt, raw, 4, 64, out=buffer[start + 1 : start + 1 + size])
    with pytest.raises(kernels.KernelError, match=f"{size} bytes"):
        kernels.pack(fmt, raw, 4, 64, out=buffer[start : start + size - 1])


FREED_AFTER_LARGE_FREES = """
import sys
import numpy as np
from qwen_tui.engine.runtime import pages

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

big = np.ones(24 << 17)  # 24 MB: freeing it makes glibc keep later blocks below that in its heap
del big
if sys.argv[1] == "fixed":
    pages.map_large_allocations()
blocks = [np.ones(1 << 19) for _ in range(60)]  # 60 blocks of 4 MB
before = rss()
del blocks[:-1]  # all but the newest, which would hold a heap's top in place
print(before - rss())
"""


@pytest.mark.parametrize("fixed", [True, False])
def test_large_blocks_freed_after_loading_go_back_to_the_system(fixed):
    """After large frees glibc serves blocks up to 32 MB from its heap and keeps them when
    freed; map_large_allocations (before a model loads) has each mapped and returned alone."""
    import subprocess
    import sys
    from pathlib import Path

    if pages.libc() is None or not hasattr(pages.libc(), "mallopt"):
        pytest.skip("not glibc's malloc")
    done = subprocess.run(
        [sys.executable, "-c", FREED_AFTER_LARGE_FREES, "fixed" if fixed else "dynamic"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    returned = int(done.stdout)
    if fixed:
        assert returned > 59 * (4 << 20) * 0.95
    else:  # what the fix is for: glibc's own behaviour keeps them
        assert returned < 59 * (4 << 20) * 0.5
