"""The real operator, run as its image runs it (`python -m storefront_operator`), reconciles
the Storefront the platform chart installs: the chart and the operator agree end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from packaging_support import PLATFORM_CHART, REPO, helm

from storefront_harness import ControlPlane
from storefront_harness.polling import wait_for
from storefront_harness.process import free_port

pytestmark = [pytest.mark.kube, pytest.mark.slow]


def _get(plane: ControlPlane, *args: str) -> dict | None:
    result = plane.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def _wait_for(what: str, probe, log_path, timeout: float = 90.0):
    return wait_for(probe, timeout, interval=0.5, message=what,
                    diagnostics=lambda: f"operator log:\n{log_path.read_text()[-4000:]}")


def test_the_operator_reconciles_the_charts_storefront(storefront_crds, tmp_path) -> None:
    plane = storefront_crds
    namespace = f"sf-op-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", namespace)
    helm("install", "storefront", str(PLATFORM_CHART), "-n", namespace, "--wait=false",
         "--set", "image.tag=9.9.9", "--kubeconfig", str(plane.kubeconfig))
    log_path = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig),
           "STOREFRONT_OPERATOR_NAMESPACES": namespace, "STOREFRONT_OPERATOR_STANDALONE": "true",
           "STOREFRONT_OPERATOR_METRICS_PORT": str(free_port()),
           "STOREFRONT_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz"}
    with log_path.open("w") as log:
        operator = subprocess.Popen([sys.executable, "-m", "storefront_operator"], cwd=REPO, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
    try:
        # Migrations first: a Job with the chart's image, owned by the Storefront.
        def migration_job():
            jobs = (_get(plane, "jobs", "-n", namespace) or {}).get("items", [])
            return jobs[0] if jobs else None
        job = _wait_for("the migration Job", migration_job, log_path)
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "storefront-app:9.9.9"
        owner = job["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Storefront", "storefront")
        # The migration reads the URL from the Secret the chart generated.
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e
                and "secretKeyRef" in e["valueFrom"]}
        assert "storefront-postgresql" in refs

        # Signing keys exist before any app pod could need them.
        _wait_for("the keyset Secret", lambda: _get(plane, "secret", "storefront-jwt-keys", "-n", namespace), log_path)

        # The status reports where it stands, for the generation the chart wrote.
        def reported():
            sf = _get(plane, "storefront", "storefront", "-n", namespace) or {}
            status = sf.get("status") or {}
            return status if status.get("conditions") else None
        status = _wait_for("status conditions", reported, log_path)
        types = {c["type"] for c in status["conditions"]}
        assert {"Ready", "MigrationsSucceeded"} <= types, status
        assert operator.poll() is None, log_path.read_text()[-4000:]
        # Deleting the Storefront is handled too: the operator lets it go.
        helm("uninstall", "storefront", "-n", namespace, "--wait=false", "--kubeconfig", str(plane.kubeconfig))
        _wait_for("the Storefront to be deleted",
                  lambda: _get(plane, "storefront", "storefront", "-n", namespace) is None, log_path, timeout=30)
    finally:
        # Uninstall while the operator still runs, so it releases its finalizer on the way out.
        helm("uninstall", "storefront", "-n", namespace, "--wait=false", "--kubeconfig", str(plane.kubeconfig),
             check=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _get(plane, "storefront", "storefront", "-n", namespace):
            time.sleep(0.5)
        operator.terminate()
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            operator.kill()
        plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
