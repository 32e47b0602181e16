"""Rollouts on the real node: a migration that fails holds the old version (serving
throughout, no hot retry loop), and a new image rolls out under load with no failed request."""

from __future__ import annotations

import json
import time

import pytest
from e2e_support import APP_IMAGE, BROKEN_MIGRATION_IMAGE, E2E, Platform
from load import Load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _patch_spec(e2e: E2E, platform: Platform, spec: dict) -> None:
    e2e.kubectl("patch", "storefront", platform.name, "-n", platform.namespace, "--type=merge",
                "-p", json.dumps({"spec": spec}))


def _api_images(e2e: E2E, platform: Platform) -> set[str]:
    pods = e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=api")
    return {p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def test_a_failing_migration_keeps_the_old_version_serving(e2e: E2E, platform: Platform) -> None:
    before = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"]
    with Load(e2e.service_url(platform.namespace, platform.name)) as load:
        _patch_spec(e2e, platform, {"image": BROKEN_MIGRATION_IMAGE, "version": "0.0.0-broken"})
        failed = e2e.wait_condition(platform.namespace, platform.name, "MigrationsSucceeded", "False",
                                    reason="MigrationFailed", timeout=300)
        # The failed pod's own words, never the database URL.
        assert "migration failed" in failed["message"], failed
        assert "postgresql" not in failed["message"].lower() or "://" not in failed["message"]
        # Backoff between attempts: over the next 20 s at most one more attempt starts.
        jobs_then = {j["metadata"]["name"] for j in e2e.items("jobs", "-n", platform.namespace)}
        deadline = time.monotonic() + 20
        e2e.wait(lambda: time.monotonic() >= deadline, "the backoff window", timeout=30, interval=1)
        jobs_now = {j["metadata"]["name"] for j in e2e.items("jobs", "-n", platform.namespace)}
        assert len(jobs_now - jobs_then) <= 1, (jobs_then, jobs_now)
        assert _api_images(e2e, platform) == {APP_IMAGE}
        status = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"]
        assert status["image"] == before["image"] and status["version"] == before["version"]
        events = e2e.items("events", "-n", platform.namespace, "--field-selector", "reason=MigrationFailed")
        assert events and events[0]["type"] == "Warning"
    assert not load.failures and load.ok > 0, load.summary()

    # Back to the running version: nothing left to migrate, Ready again.
    _patch_spec(e2e, platform, {"image": before["image"], "version": before["version"]})
    e2e.wait_condition(platform.namespace, platform.name, "Ready", timeout=300)
    assert e2e.condition(platform.namespace, platform.name)["MigrationsSucceeded"]["status"] == "True"


def test_a_new_image_rolls_out_under_load_without_a_failed_request(e2e: E2E, platform: Platform) -> None:
    # Same content, new name: a new pod template, so a real rolling update.
    new_image = f"{APP_IMAGE}-rollout"
    e2e.cluster.node.ctr("images", "tag", "--force", f"docker.io/library/{APP_IMAGE}", f"docker.io/library/{new_image}")
    pods_before = {p["metadata"]["name"] for p in
                   e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=api")}
    with Load(e2e.service_url(platform.namespace, platform.name)) as load:
        _patch_spec(e2e, platform, {"image": new_image, "version": "0.1.0-rollout"})
        e2e.wait(lambda: _api_images(e2e, platform) == {new_image}, "every API pod on the new image",
                 timeout=420, namespace=platform.namespace)
        e2e.wait_condition(platform.namespace, platform.name, "Ready", timeout=300)
        e2e.kubectl("rollout", "status", f"deployment/{platform.name}", "-n", platform.namespace, "--timeout=120s")

        # The load goes on until the old pods have drained and exited, not only been replaced.
        def old_pods_gone():
            pods = e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=api")
            return not pods_before & {p["metadata"]["name"] for p in pods}
        e2e.wait(old_pods_gone, "the old pods to exit", timeout=120, namespace=platform.namespace)
    assert load.ok > 20 and not load.failures, load.summary()
    # The disruption budget follows the new pods (the disruption controller counts them).
    e2e.wait(lambda: (e2e.get("pdb", platform.name, "-n", platform.namespace) or {}).get("status", {})
             .get("currentHealthy") == 2, "the PDB to count both new pods", timeout=60, namespace=platform.namespace)
