"""CPU time spent by processes, from /proc: who pays for a request on a shared machine."""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces; fields after it are plain.
    return raw[raw.rindex(")") + 2:].split()


def process_seconds(pid: int) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def tree_seconds(root: int) -> float:
    """The process and its direct children (PostgreSQL's postmaster and its backends)."""
    total = process_seconds(root)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == root:  # ppid
                total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def children_seconds() -> float:
    """CPU of this process's waited-for children (a finished load generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process onto ``cpus`` (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except (ProcessLookupError, PermissionError):
            pass  # the thread ended meanwhile


def pin_tree(root: int, cpus: set[int]) -> None:
    """The process and its direct children (PostgreSQL's postmaster forks its backends from it)."""
    pin(root, cpus)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == root:
                pin(int(entry.name), cpus)
