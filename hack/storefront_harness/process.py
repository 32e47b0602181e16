"""Process helpers shared by the harness components."""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

_live: set[subprocess.Popen] = set()
# Ports free_port has returned: a port chosen but not yet bound (a Redis node's data port while
# the next node picks its cluster bus port) still passes the bind check, so it is never offered twice.
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback port nothing listens on, taken from below the ephemeral range.

    Ports the kernel hands out for port 0 come from the ephemeral range, which is also where
    every outgoing connection gets its local port: between choosing such a port and the server
    binding it, a client socket (a test's, the API server's) can take it. Below that range only
    listeners compete, and we check there is none. Within one process no port is returned twice.
    """
    low, _ = _ephemeral_range()
    floor = 10000 if low > 12000 else 1024
    for _ in range(100):
        port = random.randint(floor, low - 1)  # noqa: S311 - a port number, not a secret
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a crowded machine: any port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _handed_out.add(port)
    return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def spawn(args: list[str], log: Path, **kwargs) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")
    proc = subprocess.Popen(
        args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
    )
    out.close()
    _live.add(proc)
    return proc


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        _live.discard(proc)
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)
    _live.discard(proc)


def wait_until(check: Callable[[], bool], proc: subprocess.Popen, timeout: float) -> str | None:
    """Polls ``check`` until true; returns a reason string on failure, None on success."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"process exited with code {proc.returncode}"
        try:
            if check():
                return None
        except Exception:  # noqa: BLE001 - the check is retried until the deadline
            pass
        time.sleep(0.1)
    return f"not ready after {timeout:.0f}s"


@atexit.register
def _reap() -> None:
    for proc in list(_live):
        stop(proc, timeout=5)


class ProcessStat(NamedTuple):
    ppid: int
    pgrp: int


def live_process(pid: str | int) -> ProcessStat | None:
    """A live process's parent and process group from /proc, or None when it is gone or a zombie
    (an exited child whose parent has not reaped it yet, or whose parent is gone too)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else ProcessStat(int(fields[1]), int(fields[2]))


def live_processes() -> dict[int, ProcessStat]:
    """Every live process on the machine."""
    return {int(pid): stat for pid in os.listdir("/proc") if pid.isdigit() and (stat := live_process(pid))}
