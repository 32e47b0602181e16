"""The README's run command starts the whole API locally and it answers /ready."""

from __future__ import annotations

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
