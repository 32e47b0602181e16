"""Pure builders: the desired children as a function of the spec."""

from __future__ import annotations

import pytest
from sfop_support import storefront_body

from storefront_operator.children import desired_children
from storefront_operator.children.config import redis_config
from storefront_operator.children.jobs import migration_job, migration_job_name
from storefront_operator.children.workload import app_env
from storefront_operator.model import SpecError, Storefront, parse_duration


def _sf(**spec) -> Storefront:
    body = storefront_body("shop", **spec)
    body["metadata"].update(namespace="ns", uid="uid-1", generation=3)
    return Storefront.from_body(body)


def _kinds(children):
    return {c["kind"] for c in children}


def test_no_deployment_until_something_is_migrated():
    assert "Deployment" not in _kinds(desired_children(_sf(), None, None, []))
    assert "Deployment" in _kinds(desired_children(_sf(), "img:1", "1", []))


def test_optional_children_follow_the_spec():
    plain = _kinds(desired_children(_sf(), "img:1", "1", []))
    assert {"Ingress", "HorizontalPodAutoscaler"}.isdisjoint(plain)
    full = desired_children(_sf(ingress={"host": "shop.example.com", "tlsSecretName": "tls"},
                                autoscaling={"minReplicas": 2, "maxReplicas": 6}), "img:1", "1", [])
    ingress = next(c for c in full if c["kind"] == "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": "tls"}]
    hpa = next(c for c in full if c["kind"] == "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    deployment = next(c for c in full if c["kind"] == "Deployment")
    assert "replicas" not in deployment["spec"], "with autoscaling the HPA owns the replica count"


def test_every_child_is_owned_and_labelled():
    for child in desired_children(_sf(ingress={"host": "a.example.com"}), "img:1", "1", []):
        assert child["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "storefront-operator"
        assert child["metadata"]["namespace"] == "ns"


def test_config_hash_changes_roll_the_pods():
    one = next(c for c in desired_children(_sf(), "img:1", "1", []) if c["kind"] == "Deployment")
    two = next(c for c in desired_children(_sf(), "img:2", "2", []) if c["kind"] == "Deployment")
    key = "platform.storefront.dev/config-hash"
    assert one["spec"]["template"]["metadata"]["annotations"][key] != two["spec"]["template"]["metadata"]["annotations"][key]


def test_redis_handover_per_mode():
    assert redis_config(_sf(), [])["data"] == {"STOREFRONT_REDIS_MODE": "standalone", "STOREFRONT_REDIS_URL": "redis://redis:6379/0"}
    cluster = _sf(redis={"mode": "cluster", "nodes": {"serviceName": "redis"}})
    assert redis_config(cluster, ["10.0.0.1:6379", "10.0.0.2:6379"])["data"] == {
        "STOREFRONT_REDIS_MODE": "cluster", "STOREFRONT_REDIS_CLUSTER_NODES": "10.0.0.1:6379,10.0.0.2:6379"}


def test_user_env_cannot_override_secret_wiring():
    env = app_env(_sf(env=[{"name": "STOREFRONT_DATABASE_URL", "value": "sqlite://"}, {"name": "EXTRA", "value": "1"}]))
    db = [e for e in env if e["name"] == "STOREFRONT_DATABASE_URL"]
    assert len(db) == 1 and "valueFrom" in db[0]
    assert {"name": "EXTRA", "value": "1"} in env


def test_migration_job_name_is_deterministic_per_target_and_attempt():
    sf = _sf()
    assert migration_job_name(sf, sf.spec.target, 1) == migration_job_name(_sf(), sf.spec.target, 1)
    assert migration_job_name(sf, sf.spec.target, 1) != migration_job_name(sf, sf.spec.target, 2)
    other = _sf(version="2.0.0")
    assert migration_job_name(other, other.spec.target, 1) != migration_job_name(sf, sf.spec.target, 1)
    job = migration_job(_sf(migrations={"enabled": True, "timeoutSeconds": 120, "backoffLimit": 0}), 1)
    assert (job["spec"]["activeDeadlineSeconds"], job["spec"]["backoffLimit"]) == (120, 0)
    assert len(job["metadata"]["name"]) <= 63


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("1h30m", 5400), ("720h", 2592000)])
def test_durations(text, seconds):
    assert parse_duration(text, "x").total_seconds() == seconds


@pytest.mark.parametrize("spec,reason", [
    ({"redis": {"mode": "standalone"}}, "MissingField"),
    ({"redis": {"mode": "cluster"}}, "MissingField"),
    ({"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}, "InvalidAutoscaling"),
    ({"jwt": {"accessTokenTTL": "soon"}}, "InvalidDuration"),
])
def test_specs_the_schema_would_refuse_are_refused_here_too(spec, reason):
    with pytest.raises(SpecError) as err:
        _sf(**spec)
    assert err.value.reason == reason


def test_pods_get_no_service_link_variables():
    """A Service named like the app's settings prefix ("storefront") would otherwise inject
    STOREFRONT_PORT=tcp://... into every pod of the namespace (seen on a real node)."""
    children = desired_children(_sf(), "img:1", "1", []) + [migration_job(_sf(), 1)]
    pods = [c["spec"]["template"]["spec"] for c in children if c["kind"] in ("Deployment", "Job")]
    assert len(pods) == 3  # the API, the worker and the migration Job
    assert all(pod["enableServiceLinks"] is False for pod in pods)


def test_api_pods_keep_serving_while_their_endpoint_is_withdrawn():
    deployment = next(c for c in desired_children(_sf(), "img:1", "1", []) if c["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    # The pause, then uvicorn's 20 s graceful shutdown, fit in the grace period.
    assert 0 < pre_stop and pre_stop + 20 < pod["terminationGracePeriodSeconds"]


def test_the_service_and_the_disruption_budget_select_the_api_pods_only():
    """Migration Job pods share the Deployment's selector labels; a PDB over them finds a Job it
    cannot scale and counts nothing healthy (seen on a real node)."""
    children = desired_children(_sf(), "img:1", "1", [])
    api_pod = next(c for c in children if c["kind"] == "Deployment")["spec"]["template"]["metadata"]["labels"]
    migration_pod = migration_job(_sf(), 1)["spec"]["template"]["metadata"]["labels"]
    pdb = next(c for c in children if c["kind"] == "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    service = next(c for c in children if c["kind"] == "Service")["spec"]["selector"]
    for selector in (pdb, service):
        assert selector.items() <= api_pod.items()
        assert not selector.items() <= migration_pod.items()
