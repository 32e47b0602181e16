"""Deleting the Storefront: the garbage collector removes its children, real pods included,
while the datastores the chart owns stay."""

from __future__ import annotations

import pytest
from e2e_support import E2E, Platform

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_deleting_the_storefront_removes_its_children(e2e: E2E, platform: Platform) -> None:
    ns, name = platform.namespace, platform.name
    owned = [("deployment", name), ("deployment", f"{name}-worker"), ("service", name),
             ("configmap", f"{name}-config"), ("secret", f"{name}-jwt-keys")]
    for kind, child in owned:
        assert e2e.get(kind, child, "-n", ns), f"{kind}/{child} missing before the delete"
    e2e.kubectl("delete", "storefront", name, "-n", ns, "--wait=true", "--timeout=120s")

    def gone():
        left = [f"{k}/{c}" for k, c in owned if e2e.get(k, c, "-n", ns)]
        app_pods = e2e.items("pods", "-n", ns, "-l", "app.kubernetes.io/component in (api,worker)")
        jobs = e2e.items("jobs", "-n", ns)
        return not left and not app_pods and not jobs
    e2e.wait(gone, "the Storefront's children and pods gone", timeout=180, interval=2, namespace=ns)
    # Not owned by the Storefront: the encryption keys outlive it, and so do the chart's datastores.
    assert e2e.get("secret", f"{name}-app-secrets", "-n", ns)
    redis = e2e.items("pods", "-n", ns, "-l", "app.kubernetes.io/component=redis")
    assert redis and all(p["status"]["phase"] == "Running" for p in redis)
