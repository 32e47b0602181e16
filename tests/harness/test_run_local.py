"""The README's run command starts the whole API locally and it answers /ready."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storefront_harness.process import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_run_local_serves_a_ready_api_with_a_seeded_admin() -> None:
    result = _run_local(timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "/ready answered 200" in result.stdout
    assert "worker /ready answered 200" in result.stdout  # the worker joined the queue too
    assert "admin:    admin@storefront.local / " in result.stdout


def _run_local(*extra: str, timeout: float) -> subprocess.CompletedProcess:
    """Runs it to the end; on a timeout it is stopped with SIGTERM, so it still tears down what
    it started (its datastores, the API, the worker, a node) before the test fails. A plain
    subprocess.run would SIGKILL it and leave all of those behind."""
    args = [sys.executable, str(ROOT / "hack" / "run-local.py"), *extra, "--exit-after-start", "--port", str(free_port())]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=180)
        raise AssertionError(f"run-local did not finish within {timeout:.0f}s:\n{out[-5000:]}\n{err[-2000:]}") from None
    except BaseException:
        proc.terminate()
        proc.communicate(timeout=180)
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.mark.kube
@pytest.mark.node
@pytest.mark.timeout(1200)  # images, a node and the platform's first rollout
@pytest.mark.skipif(os.geteuid() != 0, reason="the node needs root; covered by the control-plane variant below")
def test_run_local_with_operator_runs_the_platform_on_a_node() -> None:
    """As root, `make run-operator` shows the operator, the migration Job, the app, PostgreSQL
    and Redis running as pods from the locally built images."""
    result = _run_local("--with-operator", timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"(?m)^Ready=True \(Available\)$", out), out[-5000:]
    pods = out[out.index("pods:"):]
    for pod in ("storefront-operator-", "storefront-migrate-", "storefront-postgresql-0", "storefront-redis-0"):
        line = next((line for line in pods.splitlines() if pod in line), "")
        assert "Running" in line or "Completed" in line, f"{pod}: {line!r}\n{pods}"
    # The Deployment's pods: <name>-<pod-template-hash>-<suffix>.
    api = [line for line in pods.splitlines() if re.search(r"\sstorefront-[a-z0-9]{6,10}-[a-z0-9]{5}\s", line)]
    assert len(api) == 2 and all("Running" in line for line in api), pods
    assert "platform: http://198.18." in out


@pytest.mark.kube
@pytest.mark.skipif(os.geteuid() == 0, reason="as root the operator runs on a node (the test above)")
def test_run_local_with_operator_reconciles_the_sample() -> None:
    result = _run_local("--with-operator", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "sample reconciled; its conditions:" in out
    for condition in ("KeysReady=True", "RedisReady=True", "MigrationsSucceeded=Unknown", "Progressing=True"):
        assert condition in out
    for child in ("secret/shop-jwt-keys", "configmap/shop-config", "service/shop", "serviceaccount/shop"):
        assert child in out
    assert "job.batch/shop-migrate-" in out


def _started(proc: subprocess.Popen, timeout: float = 240) -> tuple[str, Path]:
    """Reads the run's output until it serves; returns it and the run's directory."""
    lines: list[str] = []
    work = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("[run] logs:"):
            work = Path(line.split()[-1]).parent
        if "Ctrl-C stops everything" in line:
            return "".join(lines), work
    proc.kill()
    raise AssertionError("run-local never served:\n" + "".join(lines))


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (by parent pid): PostgreSQL, Redis, the API and theirs."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        found |= children
        frontier = children
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_leaves_no_process_or_directory_behind(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, str(ROOT / "hack" / "run-local.py"), "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _, work = _started(proc)
        assert work is not None and work.is_dir()
        started = _descendants(proc.pid)
        assert len(started) >= 4, "PostgreSQL, Redis, the API and the worker should be running"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert f"{sig.name}: stopping" in out
    assert not work.exists(), f"{work} is left behind"
    assert not _alive(started), f"left running: {_alive(started)}"


def test_a_refused_admin_password_ends_the_run_with_one_clear_line() -> None:
    env = {**os.environ, "STOREFRONT_ADMIN_PASSWORD": "admin-admin-admin", "STOREFRONT_ADMIN_EMAIL": "admin@storefront.local"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "hack" / "run-local.py"), "--port", str(free_port())],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "create-admin: " in out  # the policy's own words: what is wrong
    assert "[run] could not start: `app.cli create-admin` failed" in out
    assert "STOREFRONT_ADMIN_PASSWORD" in out
    # Nothing of the run is left: its directory (which held a signing key) is gone.
    work = re.search(r"/\S*storefront-run-[^/\s]+", out)
    assert work, out
    assert not Path(work.group(0)).exists()
