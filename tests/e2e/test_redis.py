"""The Redis Cluster of real pods: formed by the operator, used by the app, healed when a node's
pod is replaced (a new pod keeps the name but not the identity), with no app restart."""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest
from e2e_support import E2E, Platform

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _api_restarts(e2e: E2E, platform: Platform) -> dict[str, int]:
    pods = e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=api")
    return {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["restartCount"] for p in pods}


def _session_round_trip(client: httpx.Client) -> None:
    """Register, log in, refresh (the refresh-token family and rate limits live in Redis)."""
    user = {"email": f"r-{uuid.uuid4().hex[:8]}@example.com", "password": secrets.token_urlsafe(18), "name": "R"}
    assert client.post("/auth/register", json=user).status_code == 201
    login = client.post("/auth/login", json={"email": user["email"], "password": user["password"]})
    assert login.status_code == 200, login.text
    refreshed = client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


def test_the_operator_formed_the_cluster_and_the_app_uses_it(e2e: E2E, platform: Platform) -> None:
    ready = e2e.condition(platform.namespace, platform.name)["RedisReady"]
    assert (ready["status"], ready["reason"]) == ("True", "ClusterOK"), ready
    nodes = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"]["redisNodes"]
    pod_ips = {p["status"]["podIP"] for p in
               e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=redis")}
    assert {n.rsplit(":", 1)[0] for n in nodes} == pod_ips
    with e2e.client(platform.namespace, platform.name) as client:
        _session_round_trip(client)
        checks = client.get("/ready").json()
    assert "redis" in str(checks).lower(), checks


def test_a_deleted_redis_pod_is_healed_and_the_app_recovers_without_restart(e2e: E2E, platform: Platform) -> None:
    restarts = _api_restarts(e2e, platform)
    redis_pods = e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=redis")
    victim = sorted(p["metadata"]["name"] for p in redis_pods)[0]
    old_uid = next(p["metadata"]["uid"] for p in redis_pods if p["metadata"]["name"] == victim)
    e2e.kubectl("delete", "pod", victim, "-n", platform.namespace, "--wait=true", "--timeout=60s")

    def replaced_and_ready():
        pod = e2e.get("pod", victim, "-n", platform.namespace)
        return pod and pod["metadata"]["uid"] != old_uid and all(
            c["ready"] for c in pod["status"].get("containerStatuses", [{"ready": False}]))
    e2e.wait(replaced_and_ready, f"{victim} replaced and ready", timeout=180, namespace=platform.namespace)

    def healed():
        ready = e2e.condition(platform.namespace, platform.name).get("RedisReady", {})
        nodes = e2e.get("storefront", platform.name, "-n", platform.namespace)["status"].get("redisNodes", [])
        ips = {p["status"].get("podIP") for p in
               e2e.items("pods", "-n", platform.namespace, "-l", "app.kubernetes.io/component=redis")}
        return ready.get("reason") == "ClusterOK" and {n.rsplit(":", 1)[0] for n in nodes} == ips
    e2e.wait(healed, "the cluster healed around the new pod", timeout=300, interval=2, namespace=platform.namespace)

    # The app follows the cluster's new shape on its own.
    with e2e.client(platform.namespace, platform.name) as client:
        e2e.wait(lambda: client.get("/ready").status_code == 200, "/ready after the heal", timeout=120,
                 namespace=platform.namespace)
        _session_round_trip(client)
    assert _api_restarts(e2e, platform) == restarts
