"""How many CPUs this process may actually use: its affinity mask, narrowed by a cgroup v2
CPU quota (a container's ``resources.limits.cpu``), which ``os.cpu_count()`` ignores."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not every platform has affinity masks
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cpu_max)
    return max(1, min(cpus, quota) if quota else cpus)


def _cgroup_quota(cpu_max: Path) -> int | None:
    """CPUs granted by the cgroup (rounded up), or None when unlimited or unknown."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota == "max":
            return None
        return math.ceil(int(quota) / int(period))
    except (OSError, ValueError):
        return None
