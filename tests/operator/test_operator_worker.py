"""The queue worker as the operator runs it: its children, gated by the migrations like the
API, and the queue figures it reads from a real Redis into status, metrics and Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from sfop_support import (
    complete_job,
    complete_plan,
    condition,
    create_storefront,
    make_deployment_available,
    storefront_body,
)

from storefront_operator import metrics
from storefront_operator.children import desired_children
from storefront_operator.kube import KubeError
from storefront_operator.model import SpecError, Storefront
from storefront_operator.queue import DEAD_LETTERS, GROUP, STREAM, read_queue_stats
from storefront_operator.queue_step import QueueResult
from storefront_operator.reconcile import reconcile
from storefront_operator.settings import Settings

SETTINGS = Settings(resync_seconds=2, migration_backoff_seconds=1, migration_backoff_cap_seconds=4)


def _sf(**spec) -> Storefront:
    body = storefront_body("shop", **spec)
    body["metadata"].update(namespace="ns", uid="uid-1", generation=1)
    return Storefront.from_body(body)


def _named(children, kind, name):
    return next((c for c in children if c["kind"] == kind and c["metadata"]["name"] == name), None)


# -- builders ---------------------------------------------------------------------------------

def test_the_worker_runs_the_migrated_image_with_the_apps_settings_and_no_keys():
    children = desired_children(_sf(), "img:2", "2.0.0", [])
    api, worker = _named(children, "Deployment", "shop"), _named(children, "Deployment", "shop-worker")
    pod, api_pod = worker["spec"]["template"]["spec"], api["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == api_pod["containers"][0]["image"] == "img:2"
    assert container["command"] == ["python", "-m", "app.worker"]
    assert worker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "2.0.0"
    assert worker["spec"]["replicas"] == 1
    assert container["envFrom"] == api_pod["containers"][0]["envFrom"]
    names = [e["name"] for e in container["env"]]
    assert {"STOREFRONT_DATABASE_URL", "STOREFRONT_PII_ENCRYPTION_KEY", "STOREFRONT_BLIND_INDEX_KEY"} <= set(names)
    assert {"name": "STOREFRONT_WORKER_PORT", "value": "8081"} in container["env"]
    assert container["ports"] == [{"name": "http", "containerPort": 8081, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert all(v["name"] != "jwt-keys" for v in pod["volumes"]), "the worker signs and verifies no token"
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The worker's pods are its own: the API's Service and disruption budget never select them.
    assert worker["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    assert _named(children, "PodDisruptionBudget", "shop-worker")["spec"]["selector"] == worker["spec"]["selector"]
    policy = _named(children, "NetworkPolicy", "shop-worker")
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8081}]}]
    assert policy["spec"]["policyTypes"] == ["Ingress"], "webhook receivers are anywhere: egress stays open"


def test_no_worker_before_a_migrated_version_nor_when_disabled():
    assert _named(desired_children(_sf(), None, None, []), "Deployment", "shop-worker") is None
    off = desired_children(_sf(worker={"enabled": False}), "img:1", "1", [])
    assert not [c for c in off if c["metadata"]["name"] == "shop-worker"]


def test_worker_autoscaling_on_cpu_or_on_the_queue_lag():
    cpu = desired_children(_sf(worker={"autoscaling": {"maxReplicas": 4}}), "img:1", "1", [])
    hpa = _named(cpu, "HorizontalPodAutoscaler", "shop-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "shop-worker"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert "replicas" not in _named(cpu, "Deployment", "shop-worker")["spec"], "the HPA owns the count"
    lag = desired_children(_sf(worker={"autoscaling": {"maxReplicas": 8, "metric": "QueueLag",
                                                       "targetQueueLagPerReplica": 50}}), "img:1", "1", [])
    external = _named(lag, "HorizontalPodAutoscaler", "shop-worker")["spec"]["metrics"][0]
    assert external == {"type": "External", "external": {
        "metric": {"name": "storefront_queue_lag", "selector": {"matchLabels": {"storefront": "shop"}}},
        "target": {"type": "AverageValue", "averageValue": "50"}}}
    keda = desired_children(_sf(worker={"autoscaling": {"metric": "KEDA"}}), "img:1", "1", [])
    assert _named(keda, "HorizontalPodAutoscaler", "shop-worker") is None, "KEDA's ScaledObject brings its own"
    assert "replicas" not in _named(keda, "Deployment", "shop-worker")["spec"], "the ScaledObject owns the count"


@pytest.mark.parametrize(("worker", "reason"), [
    ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "InvalidAutoscaling"),
    ({"autoscaling": {"maxReplicas": 2, "metric": "Memory"}}, "InvalidAutoscaling"),
    ({"autoscaling": {"minReplicas": 1}}, "MissingField"),
])
def test_bad_worker_specs_name_the_field(worker, reason):
    with pytest.raises(SpecError) as err:
        _sf(worker=worker)
    assert err.value.reason == reason and "spec.worker.autoscaling" in str(err.value)


def test_moving_queue_figures_are_written_at_most_once_per_refresh():
    from storefront_operator.queue import QueueStats
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = QueueResult(QueueStats(40, 3, 0, 2, True)).status(None, now, 30)["queue"]
    assert first["lag"] == 40 and first["observedAt"] == "2026-01-01T00:00:00Z"
    # Ten seconds later the lag moved: the status keeps the last figures (no write, no wake-up).
    assert QueueResult(QueueStats(55, 3, 0, 2, True)).status(first, now + timedelta(seconds=10), 30)["queue"] == first
    assert QueueResult(QueueStats(55, 3, 0, 2, True)).status(first, now + timedelta(seconds=30), 30)["queue"]["lag"] == 55
    # A new dead letter, or the queue draining, is written at once.
    assert QueueResult(QueueStats(40, 3, 1, 2, True)).status(first, now + timedelta(seconds=1), 30)["queue"]["deadLetters"] == 1
    assert QueueResult(QueueStats(0, 0, 0, 2, True)).status(first, now + timedelta(seconds=1), 30)["queue"]["lag"] == 0
    failed = QueueResult(None, "queue not readable: refused").status(first, now, 30)["queue"]
    assert failed["lag"] == 40 and failed["message"] == "queue not readable: refused", "last figures kept, reason added"


# -- against a real Redis -----------------------------------------------------------------------

def _reset_queue(client: redis.Redis) -> None:
    client.delete(STREAM, DEAD_LETTERS)


def test_queue_figures_from_xinfo_and_the_dead_letter_stream(redis_server):
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    _reset_queue(client)
    address = [f"127.0.0.1:{redis_server.port}"]
    empty = read_queue_stats(address, None, 2)
    assert (empty.lag, empty.pending, empty.dead_letters, empty.group_exists) == (0, 0, 0, False)
    for i in range(5):
        client.xadd(STREAM, {"type": "order.placed", "n": str(i)})
    assert read_queue_stats(address, None, 2).lag == 5, "no group yet: every entry is undelivered"
    client.xgroup_create(STREAM, GROUP, id="0")
    client.xreadgroup(GROUP, "worker-a", {STREAM: ">"}, count=2)
    client.xadd(DEAD_LETTERS, {"type": "order.placed"})
    stats = read_queue_stats(address, None, 2)
    assert (stats.lag, stats.pending, stats.dead_letters, stats.consumers, stats.group_exists) == (3, 2, 1, 1, True)
    _reset_queue(client)


def test_a_queue_on_a_redis_cluster_is_found_through_moved(redis_cluster_factory):
    from storefront_operator.redis_cluster import wire_cluster
    cluster = redis_cluster_factory(3)
    assert wire_cluster(cluster.addresses).ok
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port, decode_responses=True)
    try:
        for _ in range(3):
            client.xadd(STREAM, {"type": "user.registered"})
        client.xadd(DEAD_LETTERS, {"type": "user.registered"})
    finally:
        client.close()
    # Every node is asked first in turn: two of three answer MOVED, which is followed.
    for first in cluster.addresses:
        stats = read_queue_stats([first], None, 2)
        assert (stats.lag, stats.dead_letters) == (3, 1)


def test_an_unreachable_redis_is_an_error_not_a_hang():
    with pytest.raises(ConnectionError):
        read_queue_stats(["127.0.0.1:1"], None, 1)


@pytest.mark.kube
def test_the_worker_follows_the_migration_gate_and_reports_the_queue(kube, namespace, redis_server):
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    _reset_queue(client)
    create_storefront(kube, namespace, redis={"mode": "standalone", "address": f"127.0.0.1:{redis_server.port}"})
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Deployment", namespace, "shop-worker") is None, "no worker before the schema exists"
    job = kube.get("Storefront", namespace, "shop")["status"]["migration"]["jobName"]
    complete_job(kube, namespace, job, revision="0001_initial")
    reconcile(kube, namespace, "shop", SETTINGS)
    worker = kube.get("Deployment", namespace, "shop-worker")
    assert worker["spec"]["template"]["spec"]["containers"][0]["image"] == "example/storefront-api:1.0.0"
    assert worker["metadata"]["ownerReferences"][0]["kind"] == "Storefront"
    # The API alone available is not enough: Ready waits for the workers too.
    make_deployment_available(kube, namespace, "shop", with_worker=False)
    outcome = reconcile(kube, namespace, "shop", SETTINGS)
    assert not outcome.ready
    assert condition({"status": outcome.status}, "Progressing")["reason"] == "RollingOutWorkers"
    make_deployment_available(kube, namespace, "shop")
    outcome = reconcile(kube, namespace, "shop", SETTINGS)
    assert outcome.ready, outcome.status["conditions"]
    assert outcome.status["worker"] == {"replicas": 1, "readyReplicas": 1}
    assert outcome.status["queue"]["lag"] == 0 and outcome.status["queue"]["message"] == ""

    # Events pile up and one is dead-lettered: status, metrics and a Warning Event say so.
    for i in range(7):
        client.xadd(STREAM, {"type": "order.placed", "n": str(i)})
    client.xadd(DEAD_LETTERS, {"type": "order.placed"})
    status = reconcile(kube, namespace, "shop", SETTINGS).status
    assert status["queue"]["lag"] == 7 and status["queue"]["deadLetters"] == 1
    assert metrics.QUEUE_LAG.labels(namespace, "shop")._value.get() == 7
    assert metrics.QUEUE_DEAD_LETTERS.labels(namespace, "shop")._value.get() == 1
    events = kube.list("Event", namespace)
    assert any(e["reason"] == "EventsDeadLettered" and e["type"] == "Warning" for e in events), events
    _reset_queue(client)

    # A new version: the workers move only after its migration, with the API.
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"image": "example/storefront-api:1.1.0", "version": "1.1.0"}})
    reconcile(kube, namespace, "shop", SETTINGS)
    complete_plan(kube, namespace, kube.get("Storefront", namespace, "shop")["status"]["migration"]["jobName"],
                  {"from": "0001_initial", "to": "0002_next", "preDeploymentTarget": "0002_next",
                   "revisions": [{"revision": "0002_next", "safety": "safe"}]})
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Deployment", namespace, "shop-worker")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example/storefront-api:1.0.0", "the old workers keep running until the new schema is in"
    job = kube.get("Storefront", namespace, "shop")["status"]["migration"]["jobName"]
    complete_job(kube, namespace, job, revision="0002_next")
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Deployment", namespace, "shop-worker")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example/storefront-api:1.1.0"

    # Switched off, the worker's children go; the queue keeps being reported.
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"worker": {"enabled": False}}})
    status = reconcile(kube, namespace, "shop", SETTINGS).status
    for kind in ("Deployment", "PodDisruptionBudget", "NetworkPolicy"):
        assert kube.get(kind, namespace, "shop-worker") is None, kind
    assert status["worker"] is None and "lag" in status["queue"]


@pytest.mark.kube
def test_an_unreadable_queue_is_reported_and_the_rest_still_reconciles(kube, namespace):
    create_storefront(kube, namespace, redis={"mode": "standalone", "address": "127.0.0.1:1"})
    reconcile(kube, namespace, "shop", SETTINGS)
    status = kube.get("Storefront", namespace, "shop")["status"]
    assert status["queue"]["message"].startswith("queue not readable")
    assert status["migration"]["jobName"], "the migration gate still ran"


@pytest.mark.kube
def test_the_crd_refuses_bad_worker_settings(kube, namespace):
    with pytest.raises(KubeError) as err:
        create_storefront(kube, namespace, worker={"autoscaling": {"minReplicas": 5, "maxReplicas": 2}})
    assert "worker.autoscaling.minReplicas must not exceed maxReplicas" in str(err.value.details)
    with pytest.raises(KubeError) as err:
        create_storefront(kube, namespace, name="nomax", with_db_secret=False, worker={"autoscaling": {"metric": "CPU"}})
    assert "worker.autoscaling.maxReplicas is required" in str(err.value.details)
    create_storefront(kube, namespace, name="keda", with_db_secret=False, worker={"autoscaling": {"metric": "KEDA"}})
    created = create_storefront(kube, namespace, name="defaults", with_db_secret=False)
    assert created["spec"]["worker"] == {"enabled": True, "replicas": 1, "resources": {
        "requests": {"cpu": "50m", "memory": "192Mi"}, "limits": {"cpu": "500m", "memory": "384Mi"}}}
