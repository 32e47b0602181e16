"""Runs Debian's ``wrk`` against a loopback URL and returns its figures.

wrk is a C load generator: on a two-core machine it leaves the server most of a core, where
a Python client would itself become the bottleneck and flatten every ratio.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # socket errors, timeouts and non-2xx/3xx responses
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(url: str, *, seconds: float, connections: int = 32, threads: int = 1,
        headers: dict[str, str] | None = None, timeout_s: float = 5.0) -> WrkResult:
    binary = shutil.which("wrk")
    if not binary:
        raise WrkMissing("wrk is not installed (hack/setup.sh installs it)")
    if not url.startswith(("http://127.", "http://localhost")):
        raise ValueError(f"load goes to loopback only, not {url}")
    args = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", f"--timeout={timeout_s:.0f}s",
            "-s", str(REPORT_SCRIPT)]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    args.append(url)
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    line = next((item for item in out.stdout.splitlines() if item.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no report: {out.stdout[-500:]}")
    data = json.loads(line)
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return WrkResult(
        requests=data["requests"], seconds=data["duration_us"] / 1e6, errors=errors,
        p50_ms=data["p50_us"] / 1000, p95_ms=data["p95_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
