"""Migrations gate rollouts: the Deployment keeps the old image until the Job succeeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sfop_support import complete_job, complete_plan, condition, create_storefront, fail_job, terminate_job_pod

from storefront_operator.kube import Kube
from storefront_operator.reconcile import reconcile
from storefront_operator.settings import Settings

pytestmark = pytest.mark.kube
SETTINGS = Settings(resync_seconds=2, migration_backoff_seconds=30, migration_backoff_cap_seconds=120)
OLD, NEW = "example/storefront-api:1.0.0", "example/storefront-api:1.1.0"


def _image(kube, namespace):
    return kube.get("Deployment", namespace, "shop")["spec"]["template"]["spec"]["containers"][0]["image"]


def _job_name(kube, namespace):
    return kube.get("Storefront", namespace, "shop")["status"]["migration"]["jobName"]


def _running_v1(kube, namespace):
    create_storefront(kube, namespace)
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Deployment", namespace, "shop") is None, "no Deployment before the first migration"
    complete_job(kube, namespace, _job_name(kube, namespace), revision="0001")
    reconcile(kube, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == OLD


def _bump(kube, namespace):
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"image": NEW, "version": "1.1.0"}})


def _plan_safely(kube, namespace, reconciler=None):
    """The plan Job an upgrade starts with reports one safe revision; the next reconcile starts
    the migration Job."""
    complete_plan(kube, namespace, _job_name(kube, namespace),
                  {"from": "0001", "to": "0002_orders", "preDeploymentTarget": "0002_orders",
                   "revisions": [{"revision": "0002_orders", "safety": "safe"}]})
    reconcile(reconciler or kube, namespace, "shop", SETTINGS)


def test_version_bump_waits_for_the_migration_job(kube, namespace):
    _running_v1(kube, namespace)
    _bump(kube, namespace)
    reconcile(kube, namespace, "shop", SETTINGS)
    plan_job = kube.get("Job", namespace, _job_name(kube, namespace))
    assert plan_job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "app.cli", "migrate", "--plan"]
    assert _image(kube, namespace) == OLD
    _plan_safely(kube, namespace)
    job_name = _job_name(kube, namespace)
    job = kube.get("Job", namespace, job_name)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == NEW
    assert container["command"] == ["python", "-m", "app.cli", "migrate", "--pre-deployment"]
    assert job["spec"]["backoffLimit"] == 2 and job["spec"]["activeDeadlineSeconds"] == 600
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "shop-db", "key": "url"}
    assert _image(kube, namespace) == OLD
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "Progressing")["reason"] == "Migrating"
    reconcile(kube, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == OLD, "still migrating: the old image keeps serving"
    assert [j["metadata"]["name"] for j in kube.list("Job", namespace)] == [job_name], \
        "a second reconcile must not start a second Job (and the finished plan Job is gone)"

    complete_job(kube, namespace, job_name, revision="0002_orders")
    reconcile(kube, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == NEW
    sf = kube.get("Storefront", namespace, "shop")
    assert sf["status"]["schemaRevision"] == "0002_orders" and sf["status"]["version"] == "1.1.0"
    assert condition(sf, "MigrationsSucceeded")["status"] == "True"


def test_failed_job_keeps_the_old_image_reports_and_backs_off(kube, namespace):
    _running_v1(kube, namespace)
    _bump(kube, namespace)
    reconcile(kube, namespace, "shop", SETTINGS)
    _plan_safely(kube, namespace)
    first = _job_name(kube, namespace)
    terminate_job_pod(kube, namespace, first, 1, "migration failed: OperationalError: connection refused")
    fail_job(kube, namespace, first)
    now = datetime.now(UTC)
    reconcile(kube, namespace, "shop", SETTINGS, now=now)
    sf = kube.get("Storefront", namespace, "shop")
    cond = condition(sf, "MigrationsSucceeded")
    assert cond["status"] == "False" and cond["reason"] == "MigrationFailed" and "BackoffLimitExceeded" in cond["message"]
    assert "OperationalError: connection refused" in cond["message"]
    assert condition(sf, "Degraded")["status"] == "True"
    assert _image(kube, namespace) == OLD
    assert sf["status"]["version"] == "1.0.0"
    events = [e for e in kube.list("Event", namespace) if e["reason"] == "MigrationFailed"]
    assert events and events[0]["type"] == "Warning"

    # Within the backoff nothing new starts, however often it reconciles.
    for seconds in (1, 5, 29):
        reconcile(kube, namespace, "shop", SETTINGS, now=now + timedelta(seconds=seconds))
    assert [j["metadata"]["name"] for j in kube.list("Job", namespace)] == [first]

    outcome = reconcile(kube, namespace, "shop", SETTINGS, now=now + timedelta(seconds=31))
    second = _job_name(kube, namespace)
    assert second != first and kube.get("Job", namespace, second) is not None
    assert outcome is not None
    complete_job(kube, namespace, second)
    reconcile(kube, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == NEW


def test_restarted_operator_adopts_the_running_job(kube, namespace, crds):
    _running_v1(kube, namespace)
    _bump(kube, namespace)
    reconcile(kube, namespace, "shop", SETTINGS)
    job_name = _job_name(kube, namespace)
    # A new process: fresh client, no memory, and its status write was lost in the crash.
    restarted = Kube.from_kubeconfig(str(crds.kubeconfig))
    kube.merge_patch("Storefront", namespace, "shop", {"status": {"migration": None}}, subresource="status")
    reconcile(restarted, namespace, "shop", SETTINGS)
    assert [j["metadata"]["name"] for j in kube.list("Job", namespace)] == [job_name]
    assert _job_name(kube, namespace) == job_name
    _plan_safely(kube, namespace, restarted)
    complete_job(kube, namespace, _job_name(kube, namespace))
    reconcile(restarted, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == NEW
