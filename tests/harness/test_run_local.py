"""The README's run command starts the whole API locally and it answers /ready."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from storefront_harness.process import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_run_local_serves_a_ready_api_with_a_seeded_admin() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "run-local.py"), "--exit-after-start", "--port", str(free_port())],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "/ready answered 200" in result.stdout
    assert "admin:    admin@storefront.local / " in result.stdout


@pytest.mark.kube
@pytest.mark.skipif(os.geteuid() != 0, reason="the node needs root; covered by the control-plane variant below")
def test_run_local_with_operator_runs_the_platform_on_a_node() -> None:
    """As root, `make run-operator` shows the operator, the migration Job, the app, PostgreSQL
    and Redis running as pods from the locally built images."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "run-local.py"), "--with-operator", "--exit-after-start",
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Ready=True (Available)" in out
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
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "run-local.py"), "--with-operator", "--exit-after-start",
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "sample reconciled; its conditions:" in out
    for condition in ("KeysReady=True", "RedisReady=True", "MigrationsSucceeded=Unknown", "Progressing=True"):
        assert condition in out
    for child in ("secret/shop-jwt-keys", "configmap/shop-config", "service/shop", "serviceaccount/shop"):
        assert child in out
    assert "job.batch/shop-migrate-" in out
