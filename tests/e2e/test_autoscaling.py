"""The HPA on real metrics: metrics-server reads the pods' CPU from the kubelet, and under load
the Deployment scales up within maxReplicas, then back when autoscaling is turned off."""

from __future__ import annotations

import json
import secrets
import uuid

import httpx
import pytest
from e2e_support import E2E, Platform
from load import Load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_deployment_scales_up_under_load(e2e: E2E, platform: Platform) -> None:
    e2e.kubectl("patch", "storefront", platform.name, "-n", platform.namespace, "--type=merge", "-p", json.dumps(
        {"spec": {"autoscaling": {"minReplicas": 2, "maxReplicas": 3, "targetCPUUtilizationPercentage": 30}}}))
    e2e.wait(lambda: e2e.get("hpa", platform.name, "-n", platform.namespace), "the HPA", timeout=120,
             namespace=platform.namespace)

    # metrics-server reports every API pod's CPU, scraped from the kubelet.
    def pod_metrics():
        r = e2e.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{platform.namespace}/pods", check=False)
        metrics = json.loads(r.stdout) if r.returncode == 0 else {}
        return [m for m in metrics.get("items", []) if m["metadata"]["name"].startswith(f"{platform.name}-")
                and not m["metadata"]["name"].startswith(f"{platform.name}-postgresql")
                and not m["metadata"]["name"].startswith(f"{platform.name}-redis")]
    assert e2e.wait(pod_metrics, "pod metrics from metrics-server", timeout=120, interval=3, namespace=platform.namespace)

    user = {"email": f"hpa-{uuid.uuid4().hex[:8]}@example.com", "password": secrets.token_urlsafe(18), "name": "H"}
    base = e2e.service_url(platform.namespace, platform.name)
    assert httpx.post(f"{base}/auth/register", json=user, timeout=10).status_code == 201
    # Logins cost argon2 CPU on the pods: a steady source of load the HPA can see.
    login = {"email": user["email"], "password": user["password"]}
    with Load(base, request=lambda c: c.post("/auth/login", json=login), max_seconds=400) as load:
        def scaled():
            hpa = e2e.get("hpa", platform.name, "-n", platform.namespace)
            deploy = e2e.get("deployment", platform.name, "-n", platform.namespace)
            return hpa["status"].get("desiredReplicas", 0) > 2 and deploy["spec"]["replicas"] > 2 and hpa
        hpa = e2e.wait(scaled, "the HPA to scale the Deployment up", timeout=360, interval=3,
                       namespace=platform.namespace)
    assert hpa["status"]["desiredReplicas"] <= 3
    assert e2e.get("deployment", platform.name, "-n", platform.namespace)["spec"]["replicas"] <= 3
    # Rate limiting may refuse some logins; what matters is that the pods did the work.
    assert load.ok > 0, load.summary()

    e2e.kubectl("patch", "storefront", platform.name, "-n", platform.namespace, "--type=json",
                "-p", json.dumps([{"op": "remove", "path": "/spec/autoscaling"}]))
    e2e.wait(lambda: e2e.get("hpa", platform.name, "-n", platform.namespace) is None, "the HPA removed",
             timeout=120, namespace=platform.namespace)
    e2e.wait_condition(platform.namespace, platform.name, "Ready", timeout=300)
