"""Migration safety: the plan an upgrade starts with, the policy that holds destructive or
locking revisions until they are approved in the spec (the old version serving meanwhile), and
post-deployment revisions that run only once no pod of the old version remains."""

from __future__ import annotations

import json

import pytest
from sfop_support import complete_job, complete_plan, condition, create_storefront, make_deployment_available

from storefront_harness.polling import wait_for
from storefront_operator.migration_policy import PolicyInput, decide
from storefront_operator.reconcile import reconcile
from storefront_operator.settings import Settings

pytestmark = pytest.mark.kube
SETTINGS = Settings(resync_seconds=2, migration_backoff_seconds=30, migration_backoff_cap_seconds=120)
OLD, NEW = "example/storefront-api:1.0.0", "example/storefront-api:1.1.0"
DROP = {"revision": "0004_drop_legacy_code", "safety": "destructive", "destructive": ["drop column products.legacy_code"]}
INDEX = {"revision": "0005_index_sku", "safety": "locking",
         "locking": ["create index ix_products_sku on products without CONCURRENTLY: blocks writes to products while it builds"]}
SAFE = {"revision": "0004_add_note", "safety": "safe"}
CONTRACT = {"revision": "0005_drop_note_later", "safety": "destructive", "postDeployment": True,
            "destructive": ["drop column products.old_note"]}


def _plan(*revisions: dict) -> dict:
    return {"from": "0003", "to": revisions[-1]["revision"], "revisions": list(revisions)}


# --- the policy chain, pure ------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "approved", "plan", "serving", "allowed", "reason"), [
    ("Refuse", set(), _plan(DROP), False, True, "NothingServing"),
    ("Refuse", set(), _plan(SAFE), True, True, "PlanAllowed"),
    ("Refuse", set(), _plan(DROP), True, False, "MigrationNeedsApproval"),
    ("Refuse", set(), _plan(INDEX), True, False, "MigrationNeedsApproval"),
    ("Refuse", {"0004_drop_legacy_code"}, _plan(DROP), True, True, "PlanAllowed"),
    ("Refuse", {"0004_drop_legacy_code"}, _plan(DROP, INDEX), True, False, "MigrationNeedsApproval"),
    ("Refuse", set(), _plan(SAFE, CONTRACT), True, True, "PlanAllowed"),
    ("Refuse", set(), _plan(SAFE, {**CONTRACT, "safety": "locking", "locking": ["lock table products"]}), True, False,
     "MigrationNeedsApproval"),
    ("RequireApproval", set(), _plan(SAFE), True, False, "MigrationNeedsApproval"),
    ("RequireApproval", {"0004_add_note"}, _plan(SAFE), True, True, "PlanAllowed"),
    ("RequireApproval", set(), {"revisions": []}, True, True, "PlanAllowed"),
    ("Allow", set(), _plan(DROP, INDEX), True, True, "PolicyAllows"),
])
def test_the_policy_chain(policy, approved, plan, serving, allowed, reason):
    decision = decide(PolicyInput(policy, frozenset(approved), plan, serving))
    assert (decision.allowed, decision.reason) == (allowed, reason), decision


def test_a_held_plan_names_each_revision_and_operation():
    decision = decide(PolicyInput("Refuse", frozenset(), _plan(DROP, INDEX), True))
    assert "0004_drop_legacy_code (destructive: drop column products.legacy_code)" in decision.message
    assert "0005_index_sku (locking: create index ix_products_sku" in decision.message
    assert "spec.migrations.approvedRevisions" in decision.message


# --- the operator on the control plane -------------------------------------------------------
def _status(kube, namespace):
    return kube.get("Storefront", namespace, "shop")["status"]


def _image(kube, namespace):
    return kube.get("Deployment", namespace, "shop")["spec"]["template"]["spec"]["containers"][0]["image"]


def _job(kube, namespace):
    name = _status(kube, namespace)["migration"]["jobName"]
    return name, kube.get("Job", namespace, name)


def _command(job):
    return job["spec"]["template"]["spec"]["containers"][0]["command"][3:]


def _upgrade_planned(kube, namespace, plan, **migrations):
    """v1 runs; the spec moves to v1.1 and its plan Job reports ``plan``."""
    create_storefront(kube, namespace, migrations={"enabled": True, **migrations})
    reconcile(kube, namespace, "shop", SETTINGS)
    name, job = _job(kube, namespace)
    assert _command(job) == ["migrate"], "a first install migrates at once: nothing serves yet"
    complete_job(kube, namespace, name, revision="0003")
    reconcile(kube, namespace, "shop", SETTINGS)
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"image": NEW, "version": "1.1.0"}})
    reconcile(kube, namespace, "shop", SETTINGS)
    name, job = _job(kube, namespace)
    assert _command(job) == ["migrate", "--plan"]
    complete_plan(kube, namespace, name, plan)
    reconcile(kube, namespace, "shop", SETTINGS)



def test_a_destructive_revision_is_held_until_approved_then_runs(kube, namespace, crds):
    _upgrade_planned(kube, namespace, _plan(SAFE, DROP))
    for _ in range(2):  # held, however often it reconciles
        status = _status(kube, namespace)
        sf = kube.get("Storefront", namespace, "shop")
        progressing = condition(sf, "Progressing")
        assert (progressing["status"], progressing["reason"]) == ("False", "MigrationNeedsApproval"), progressing
        assert "0004_drop_legacy_code (destructive: drop column products.legacy_code)" in progressing["message"]
        assert "0004_add_note" not in progressing["message"], "a safe revision needs no approval"
        assert condition(sf, "MigrationsSucceeded")["reason"] == "MigrationNeedsApproval"
        assert condition(sf, "Degraded")["status"] == "False", "a decision to make is no failure"
        assert _image(kube, namespace) == OLD and status["version"] == "1.0.0"
        assert not kube.list("Job", namespace, label_selector="app.kubernetes.io/component=migrations") or \
            all(j["metadata"]["name"].startswith("shop-plan-") for j in kube.list("Job", namespace))
        assert status["migration"]["phase"] == "Plan" and status["migration"]["decision"] == "MigrationNeedsApproval"
        assert status["migration"]["plan"]["revisions"][1] == DROP
        reconcile(kube, namespace, "shop", SETTINGS)
    events = [e for e in kube.list("Event", namespace) if e["reason"] == "MigrationNeedsApproval"]
    assert events and events[0]["type"] == "Warning" and "0004_drop_legacy_code" in events[0]["message"]
    # The full plan, safe operations too, for whoever reviews it.
    published = json.loads(kube.get("ConfigMap", namespace, "shop-migration-plan")["data"]["plan.json"])
    assert [r["revision"] for r in published["revisions"]] == ["0004_add_note", "0004_drop_legacy_code"]
    # kubectl get sf shows why it waits.
    table = crds.kubectl("get", "sf", "shop", "-n", namespace).stdout
    assert "PROGRESS" in table and "MigrationNeedsApproval" in table, table

    # Approving is editing the spec; nothing else.
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"migrations": {"approvedRevisions": ["0004_drop_legacy_code"]}}})
    reconcile(kube, namespace, "shop", SETTINGS)
    name, job = _job(kube, namespace)
    assert _command(job) == ["migrate", "--pre-deployment"]
    assert condition(kube.get("Storefront", namespace, "shop"), "Progressing")["reason"] == "Migrating"
    complete_job(kube, namespace, name, revision="0004_drop_legacy_code")
    reconcile(kube, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == NEW
    status = _status(kube, namespace)
    assert status["schemaRevision"] == "0004_drop_legacy_code" and status["migration"]["phase"] == "Done"

    # The next upgrade starts from a clean slate: its own plan, nothing of the last one's.
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"image": "example/storefront-api:1.2.0", "version": "1.2.0"}})
    reconcile(kube, namespace, "shop", SETTINGS)
    state = _status(kube, namespace)["migration"]
    assert state["phase"] == "Plan" and "plan" not in state and "decision" not in state, state
    assert _command(_job(kube, namespace)[1]) == ["migrate", "--plan"]


def test_require_approval_holds_even_a_safe_plan_and_allow_runs_anything(kube, namespace):
    _upgrade_planned(kube, namespace, _plan(SAFE), policy="RequireApproval")
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "Progressing")["reason"] == "MigrationNeedsApproval"
    assert "0004_add_note" in condition(sf, "Progressing")["message"]
    # Switching the policy to Allow releases it as well as an approval would.
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"migrations": {"policy": "Allow"}}})
    reconcile(kube, namespace, "shop", SETTINGS)
    name, job = _job(kube, namespace)
    assert _command(job) == ["migrate", "--pre-deployment"]
    assert _status(kube, namespace)["migration"]["decision"] == "PolicyAllows"


def test_post_deployment_revisions_run_only_after_the_old_pods_are_gone(kube, namespace):
    """Of the API and of the worker: both Deployments run the migrated image first."""
    _upgrade_planned(kube, namespace, _plan(SAFE, CONTRACT))
    name, job = _job(kube, namespace)
    assert _command(job) == ["migrate", "--pre-deployment"], "the contract step is post-deployment: no approval needed"
    complete_job(kube, namespace, name, revision="0004_add_note")
    reconcile(kube, namespace, "shop", SETTINGS)
    assert _image(kube, namespace) == NEW
    status = _status(kube, namespace)
    assert status["migration"]["phase"] == "PostDeployment" and status["schemaRevision"] == "0004_add_note"

    # The new pods are not available yet and the old ones still exist: the contract step waits.
    reconcile(kube, namespace, "shop", SETTINGS)
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "MigrationsSucceeded")["reason"] == "PostDeploymentPending"
    assert "0005_drop_note_later" in condition(sf, "MigrationsSucceeded")["message"]
    assert not [j for j in kube.list("Job", namespace) if "-postmig-" in j["metadata"]["name"]]

    # The API is rolled out, its old pods gone; the worker's rollout is not done: still waiting.
    make_deployment_available(kube, namespace, "shop", with_worker=False)

    def old_pods_gone(component):
        pods = kube.list("Pod", namespace, label_selector=f"app.kubernetes.io/component={component}")
        return all(p["spec"]["containers"][0]["image"] == NEW for p in pods)
    wait_for(lambda: old_pods_gone("api"), 60, interval=0.5, message="the old API pods to go")
    reconcile(kube, namespace, "shop", SETTINGS)
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "MigrationsSucceeded")["reason"] == "PostDeploymentPending"
    assert "shop-worker" in condition(sf, "MigrationsSucceeded")["message"]
    assert not [j for j in kube.list("Job", namespace) if "-postmig-" in j["metadata"]["name"]]

    make_deployment_available(kube, namespace, "shop-worker", with_worker=False)
    wait_for(lambda: old_pods_gone("worker"), 60, interval=0.5, message="the old worker pods to go")
    reconcile(kube, namespace, "shop", SETTINGS)
    name, job = _job(kube, namespace)
    assert "-postmig-" in name and _command(job) == ["migrate"]
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "Progressing")["reason"] == "PostDeploymentRunning"
    complete_job(kube, namespace, name, revision="0005_drop_note_later")
    reconcile(kube, namespace, "shop", SETTINGS)
    status = _status(kube, namespace)
    assert status["schemaRevision"] == "0005_drop_note_later" and status["migration"]["phase"] == "Done"
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "MigrationsSucceeded")["reason"] == "MigrationSucceeded"
    assert condition(sf, "Progressing")["reason"] == "RolloutComplete"
    assert any(e["reason"] == "PostDeploymentMigrationSucceeded" for e in kube.list("Event", namespace))
