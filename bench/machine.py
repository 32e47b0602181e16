"""What the figures were measured on: CPU, memory, kernel, versions, date, commit."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy", "asyncpg",
            "redis", "argon2-cffi", "pyjwt", "cryptography", "kopf", "httpx")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _command_version(args: list[str], pattern: str) -> str:
    if not shutil.which(args[0]) and not os.path.exists(args[0]):
        return "not installed"
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


def _postgres_version() -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not candidates:
        return "not installed"
    return _command_version([str(candidates[-1]), "--version"], r"(\d+\.\d+)")


def _kube_version() -> str:
    sys.path.insert(0, str(ROOT / "hack"))
    try:
        from storefront_harness.tools import tool

        return _command_version([tool("kube-apiserver"), "--version"], r"v(\d+\.\d+\.\d+)")
    except Exception:  # noqa: BLE001 - the binary may not be built yet
        return "not built"


def _git_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def short() -> str:
    """One line for each section: date, cores, commit."""
    return f"{now_utc()} on {os.cpu_count()} × {_cpu_model()}, commit {_git_sha()}"


def describe() -> list[tuple[str, str]]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return [
        ("date", now_utc()),
        ("commit", _git_sha()),
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores (shared by server, load generator and datastores)"),
        ("memory", _memory()),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("PostgreSQL", _postgres_version()),
        ("Redis", _command_version(["redis-server", "--version"], r"v=(\S+)")),
        ("kube-apiserver", _kube_version()),
        ("wrk", _command_version(["wrk", "--version"], r"wrk (\S+)")),
        ("packages", ", ".join(versions)),
    ]


def markdown() -> str:
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in describe()]
    return "\n".join(lines) + "\n"
