"""Shared helpers of the operator tests."""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "k8s" / "crds" / "storefronts.platform.storefront.dev.yaml"
PEERING_FILE = REPO / "k8s" / "crds" / "kopf-peering.yaml"


def wait_for(check, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Polls ``check`` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}" + (f": {last_error}" if last_error else ""))
