"""The real operator process (`python -m storefront_operator`), run as a client-certificate user
bound to exactly the RBAC rules the operator chart renders, end to end against the API server."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from sfop_support import REPO, complete_job, condition, create_storefront, make_deployment_available, wait_for

from storefront_harness.process import free_port
from storefront_harness.tools import tool

pytestmark = [pytest.mark.kube, pytest.mark.slow]
OPERATOR_USER = "storefront-operator-under-test"


def _rendered_rbac() -> list[dict]:
    out = subprocess.run([tool("helm"), "template", "sfo", str(REPO / "charts" / "storefront-operator"),
                          "--kube-version", "1.35.0", "--show-only", "templates/rbac.yaml"],
                         capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def operator_process(crds, kube, tmp_path_factory):
    """Starts the operator with only the chart's ClusterRole, bound to a certificate user."""
    docs = _rendered_rbac()
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    binding["subjects"] = [{"kind": "User", "name": OPERATOR_USER, "apiGroup": "rbac.authorization.k8s.io"}]
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([role, binding]))
    # The chart creates the peering object; the operator may only keep it alive.
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "storefront-operator-test"}}))

    workdir = Path(tmp_path_factory.mktemp("operator"))
    kubeconfig = crds.write_kubeconfig(workdir / "operator.kubeconfig", OPERATOR_USER)
    proc = _start_operator(workdir, kubeconfig, "storefront-operator-test")
    try:
        yield proc
    finally:
        _stop(proc)
        # RBAC denials read 'User "..." cannot <verb> resource ...'; a terminating namespace's
        # "forbidden: ... being terminated" is not about the operator's rights.
        forbidden = [line for line in proc.log_path.read_text(errors="replace").splitlines()
                     if "forbidden" in line.lower() and f'"{OPERATOR_USER}" cannot' in line.replace('\\"', '"')]
        assert not forbidden, "the operator hit RBAC denials:\n" + "\n".join(forbidden[:5])


def _start_operator(workdir: Path, kubeconfig: Path, peering: str, priority: int | None = None, tag: str = "operator"):
    health_port, metrics_port = free_port(), free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           "STOREFRONT_OPERATOR_RESYNC_SECONDS": "2", "STOREFRONT_OPERATOR_MIGRATION_BACKOFF_SECONDS": "2",
           "STOREFRONT_OPERATOR_PEERING_NAME": peering,
           "STOREFRONT_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health_port}/healthz",
           "STOREFRONT_OPERATOR_METRICS_PORT": str(metrics_port)}
    if priority is not None:
        env["STOREFRONT_OPERATOR_PRIORITY"] = str(priority)
    log_path = workdir / f"{tag}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "storefront_operator"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO)
    proc.health_url = f"http://127.0.0.1:{health_port}/healthz"  # type: ignore[attr-defined]
    proc.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # type: ignore[attr-defined]
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        wait_for(lambda: urllib.request.urlopen(proc.health_url, timeout=1).status == 200, 60,
                 message="the operator's liveness endpoint")
    except BaseException:
        _stop(proc)
        raise
    return proc


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _ready(kube, namespace, name):
    return (condition(kube.get("Storefront", namespace, name) or {}, "Ready") or {}).get("status") == "True"


def test_create_to_ready(operator_process, kube, crds, namespace):
    # Ingress and autoscaling too, so every kind in the RBAC rules is exercised.
    create_storefront(kube, namespace, ingress={"host": "shop.example.com"},
                      autoscaling={"minReplicas": 1, "maxReplicas": 3})
    job = wait_for(lambda: ((kube.get("Storefront", namespace, "shop").get("status") or {}).get("migration") or {}).get("jobName")
                   and kube.get("Job", namespace, kube.get("Storefront", namespace, "shop")["status"]["migration"]["jobName"]),
                   60, message="the migration Job")
    assert kube.get("Deployment", namespace, "shop") is None
    complete_job(kube, namespace, job["metadata"]["name"], revision="0001_initial")
    wait_for(lambda: kube.get("Deployment", namespace, "shop"), 30, message="the Deployment")
    make_deployment_available(kube, namespace, "shop")
    wait_for(lambda: _ready(kube, namespace, "shop"), 60, message="Ready=True")
    sf = kube.get("Storefront", namespace, "shop")
    assert sf["status"]["schemaRevision"] == "0001_initial" and sf["status"]["observedGeneration"] == 1
    assert "platform.storefront.dev/finalizer" in sf["metadata"]["finalizers"]
    table = crds.kubectl("get", "sf", "shop", "-n", namespace).stdout
    assert "True" in table and "1.0.0" in table

    assert kube.get("Ingress", namespace, "shop") and kube.get("HorizontalPodAutoscaler", namespace, "shop")

    # Drift: a deleted child comes back without any change to the Storefront.
    kube.delete("Service", namespace, "shop")
    wait_for(lambda: kube.get("Service", namespace, "shop"), 30, message="the Service to be restored")

    # Dropping a part of the spec removes its child.
    kube.request("PATCH", f"/apis/platform.storefront.dev/v1alpha1/namespaces/{namespace}/storefronts/shop",
                 [{"op": "remove", "path": "/spec/ingress"}], content_type="application/json-patch+json")
    wait_for(lambda: kube.get("Ingress", namespace, "shop") is None, 30, message="the Ingress to be removed")

    # Deletion: the operator releases its finalizer and the children are collected.
    kube.delete("Storefront", namespace, "shop")
    wait_for(lambda: kube.get("Storefront", namespace, "shop") is None, 30, message="the Storefront to go")
    wait_for(lambda: kube.get("Deployment", namespace, "shop") is None, 60, message="the Deployment to be collected")


def _blackholed_redis_pod(kube, namespace, index):
    name = f"slow-redis-{index}"
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": {"app": "slow-redis"}},
                 "spec": {"automountServiceAccountToken": False, "containers": [{"name": "redis", "image": "redis:7"}]}})
    # TEST-NET-1 (RFC 5737): nothing answers, so every connection attempt runs into its timeout.
    kube.merge_patch("Pod", namespace, name, {"status": {"phase": "Running", "podIP": f"192.0.2.{index + 1}",
                                                         "podIPs": [{"ip": f"192.0.2.{index + 1}"}]}}, subresource="status")


def test_a_broken_storefront_does_not_block_others(operator_process, kube, namespace):
    # Cluster-mode Redis behind a Service with no endpoints, and no database Secret: never ready.
    create_storefront(kube, namespace, name="broken", with_db_secret=False,
                      redis={"mode": "cluster", "nodes": {"serviceName": "nowhere"}})
    # Redis nodes that never answer: each of its reconciles spends the Redis timeouts.
    wait_for(lambda: kube.get("ServiceAccount", namespace, "default"), 30, message="the default ServiceAccount")
    for i in range(3):
        _blackholed_redis_pod(kube, namespace, i)
    create_storefront(kube, namespace, name="slow", redis={"mode": "cluster", "nodes": {"selector": {"app": "slow-redis"}}})
    create_storefront(kube, namespace, name="good", migrations={"enabled": False})
    wait_for(lambda: kube.get("Deployment", namespace, "good"), 30, message="the good Storefront's Deployment")
    make_deployment_available(kube, namespace, "good")
    wait_for(lambda: _ready(kube, namespace, "good"), 60, message="the good Storefront to be Ready")
    broken = wait_for(lambda: condition(kube.get("Storefront", namespace, "broken"), "RedisReady"), 30)
    assert broken["status"] == "False" and broken["reason"] == "NoNodes"
    assert condition(kube.get("Storefront", namespace, "broken"), "Degraded")["status"] == "True"
    slow = wait_for(lambda: condition(kube.get("Storefront", namespace, "slow"), "RedisReady"), 60)
    assert slow["status"] == "False", slow


def test_metrics_and_health(operator_process):
    assert urllib.request.urlopen(operator_process.health_url, timeout=2).status == 200
    text = urllib.request.urlopen(operator_process.metrics_url, timeout=2).read().decode()
    assert "storefront_operator_reconciles_total" in text
    assert "storefront_operator_reconcile_duration_seconds_bucket" in text


def test_peering_lets_one_replica_act_and_fails_over(crds, kube, namespace, tmp_path):
    """Two replicas on one peering object: the higher priority acts, the other stands by and
    takes over when the first goes away."""
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "storefront-operator-ha"}}))
    leader = _start_operator(tmp_path, crds.kubeconfig, "storefront-operator-ha", priority=200, tag="leader")
    standby = _start_operator(tmp_path, crds.kubeconfig, "storefront-operator-ha", priority=100, tag="standby")
    try:
        # The standby starts paused (peering is mandatory) and stays so while a higher priority lives.
        create_storefront(kube, namespace, migrations={"enabled": False})
        wait_for(lambda: kube.get("Deployment", namespace, "shop"), 30, message="the leader to reconcile")
        standby_log = standby.log_path.read_text()
        assert "key created" not in standby_log, "the standby acted while the leader lives"
        assert "Resuming operations" not in standby_log
        _stop(leader)
        kube.delete("Service", namespace, "shop")
        wait_for(lambda: kube.get("Service", namespace, "shop"), 60, message="the standby to take over")
        assert "Resuming operations" in standby.log_path.read_text()
    finally:
        _stop(leader)
        _stop(standby)
        # Nothing watches any more: let the namespace go without the operator's finalizer.
        kube.merge_patch("Storefront", namespace, "shop", {"metadata": {"finalizers": None}})
