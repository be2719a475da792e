"""The default thread count: the CPUs this process may use, one thread per core, never one
thread on a two-vCPU hyperthreaded box."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qwen_tui.engine.runtime import cpus
from qwen_tui.engine.runtime.cpus import CpuBudget


@pytest.mark.parametrize(
    ("usable", "logical", "cores", "threads"),
    [
        (2, 2, 2, 2),  # these machines: two cores, no SMT
        (2, 2, 1, 2),  # a 2-vCPU Intel cloud box: one core, two hyperthreads
        (32, 32, 16, 16),  # a 16-core desktop with SMT: one per core
        (2, 128, 64, 2),  # a container pinned to two CPUs of a big host
        (4, 128, 64, 2),  # pinned to four logical CPUs, that is two cores' threads
        (1, 8, 4, 1),  # one CPU allowed
        (6, 6, 6, 6),
    ],
)
def test_threads_follow_the_usable_cpus_and_cores(usable, logical, cores, threads):
    assert CpuBudget(usable, logical, cores).threads == threads


def test_a_cgroup_quota_is_read_in_both_versions(tmp_path: Path):
    v2 = tmp_path / "cpu.max"
    quota, period = tmp_path / "quota", tmp_path / "period"
    missing = tmp_path / "none"
    v2.write_text("150000 100000\n")
    assert cpus.cgroup_limit(v2, missing, missing) == 2
    v2.write_text("max 100000\n")
    assert cpus.cgroup_limit(v2, missing, missing) is None
    quota.write_text("300000\n")
    period.write_text("100000\n")
    assert cpus.cgroup_limit(missing, quota, period) == 3
    quota.write_text("-1\n")
    assert cpus.cgroup_limit(missing, quota, period) is None
    v2.write_text("garbage")
    assert cpus.cgroup_limit(v2, missing, missing) is None


def test_the_budget_counts_the_affinity_mask_and_the_quota(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 128 if logical else 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.setattr(cpus, "cgroup_limit", lambda: None)
    assert cpus.budget() == CpuBudget(6, 128, 64)
    monkeypatch.setattr(cpus, "cgroup_limit", lambda: 2)
    assert cpus.budget() == CpuBudget(2, 128, 64)
    assert cpus.default_threads() == 2


def test_the_engine_and_doctor_use_it(monkeypatch, tiny_quantized):
    from qwen_tui import doctor
    from qwen_tui.engine.bigdl.engine import BigdlEngine

    monkeypatch.setattr(cpus, "budget", lambda: CpuBudget(3, 3, 3))
    assert BigdlEngine(tiny_quantized.path).threads == 3
    assert BigdlEngine(tiny_quantized.path, threads=1).threads == 1
    monkeypatch.setattr(cpus, "budget", lambda: CpuBudget(2, 2, 1))
    (finding,) = doctor.check_threads()
    assert finding.area == "threads" and finding.text.startswith("2 threads by default")
    assert "1 physical cores" in finding.text
