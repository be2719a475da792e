"""How many threads a reply runs on when the user has not said.

The CPUs this process may use are fewer than the machine's when an affinity mask (taskset,
``docker --cpuset-cpus``) or a cgroup quota (``docker --cpus``, Kubernetes limits) says so;
``os.cpu_count()`` and psutil's core count see the whole host. More OpenMP threads than
usable CPUs make every barrier wait for a descheduled thread, so the count starts there.

Within those CPUs, one thread per physical core (llama.cpp's and torch's convention), except
that a machine sold as two vCPUs on one hyperthreaded core (most 2-vCPU Intel cloud boxes)
still gets two: on the Emerald Rapids 2-vCPU machine of issue 13, two threads decoded 1.8x
faster than one.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


@dataclass(frozen=True)
class CpuBudget:
    usable: int  # logical CPUs this process may run on (affinity, then cgroup quota)
    logical: int  # logical CPUs of the machine
    cores: int  # physical cores of the machine

    @property
    def threads(self) -> int:
        per_core = max(1, round(self.logical / max(1, self.cores)))
        cores_in_use = math.ceil(self.usable / per_core)
        return max(1, min(self.usable, max(cores_in_use, 2)))

    def describe(self) -> str:
        return (
            f"{self.threads} threads by default ({self.usable} usable CPUs of {self.logical}, "
            f"{self.cores} physical cores); the threads setting or --threads overrides"
        )


def cgroup_limit(
    v2: Path = CGROUP_V2_MAX, v1_quota: Path = CGROUP_V1_QUOTA, v1_period: Path = CGROUP_V1_PERIOD
) -> int | None:
    """CPUs a cgroup quota allows (rounded up), or None where there is no quota."""
    try:
        quota, _, period = v2.read_text().strip().partition(" ")
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period or 100000)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(v1_quota.read_text())
        period_us = int(v1_period.read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def budget() -> CpuBudget:
    import psutil

    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    cores = psutil.cpu_count(logical=False) or logical
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    limit = cgroup_limit()
    if limit is not None:
        usable = min(usable, limit)
    return CpuBudget(max(1, usable), logical, cores)


def default_threads() -> int:
    return budget().threads
