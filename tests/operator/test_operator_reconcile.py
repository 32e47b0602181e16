"""One reconcile at a time against the real API server: children, ownership, drift, pruning."""

from __future__ import annotations

import pytest
from sfop_support import complete_job, condition, create_storefront, make_deployment_available, wait_for

from storefront_operator.reconcile import reconcile
from storefront_operator.settings import Settings

pytestmark = pytest.mark.kube
SETTINGS = Settings(resync_seconds=2, migration_backoff_seconds=1, migration_backoff_cap_seconds=4)
EXPECTED = {"ServiceAccount": "shop", "ConfigMap": "shop-config", "Service": "shop", "PodDisruptionBudget": "shop",
            "NetworkPolicy": "shop", "Ingress": "shop", "HorizontalPodAutoscaler": "shop", "Deployment": "shop",
            "Secret": "shop-jwt-keys"}


def _migrate_first_version(kube, namespace, name="shop"):
    reconcile(kube, namespace, name, SETTINGS)
    sf = kube.get("Storefront", namespace, name)
    job = sf["status"]["migration"]["jobName"]
    complete_job(kube, namespace, job, revision="0001_initial")
    return reconcile(kube, namespace, name, SETTINGS)


def test_create_builds_every_child_owned_by_the_storefront(kube, namespace):
    # Enforced Pod Security "restricted": the migration and app pods must still be admitted.
    kube.merge_patch("Namespace", None, namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}})
    sf = create_storefront(kube, namespace, ingress={"host": "shop.example.com", "className": "nginx"},
                           autoscaling={"minReplicas": 2, "maxReplicas": 5})
    outcome = _migrate_first_version(kube, namespace)
    for kind, name in {**EXPECTED, "ConfigMap": "shop-redis"}.items():
        child = kube.get(kind, namespace, name)
        assert child is not None, f"{kind} {name} missing"
        refs = child["metadata"]["ownerReferences"]
        assert refs == [{"apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront", "name": "shop",
                         "uid": sf["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        assert child["metadata"]["labels"]["app.kubernetes.io/instance"] == "shop"
    app_secrets = kube.get("Secret", namespace, "shop-app-secrets")
    assert set(app_secrets["data"]) == {"pii-encryption-key", "blind-index-key"}
    assert not app_secrets["metadata"].get("ownerReferences"), "PII keys must outlive the Storefront"
    dep = kube.get("Deployment", namespace, "shop")
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in dep["spec"] or dep["spec"]["replicas"] >= 1
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {"name": "jwt-keys", "mountPath": "/var/run/storefront/keys", "readOnly": True} in container["volumeMounts"]
    status = kube.get("Storefront", namespace, "shop")["status"]
    assert status["schemaRevision"] == "0001_initial" and status["version"] == "1.0.0"
    assert status["activeKid"].startswith("sf-")
    assert condition(kube.get("Storefront", namespace, "shop"), "Ready")["status"] == "False"  # no pods available yet
    make_deployment_available(kube, namespace, "shop")
    outcome = reconcile(kube, namespace, "shop", SETTINGS)
    assert outcome.ready, outcome.status["conditions"]
    assert kube.get("Secret", namespace, "shop-app-secrets")["data"] == app_secrets["data"], "never regenerated"
    ready = condition(kube.get("Storefront", namespace, "shop"), "Ready")
    assert ready["status"] == "True" and ready["observedGeneration"] == 1


def test_deleting_the_storefront_garbage_collects_its_children(kube, namespace):
    create_storefront(kube, namespace)
    _migrate_first_version(kube, namespace)
    assert kube.get("Deployment", namespace, "shop")
    kube.delete("Storefront", namespace, "shop", propagation="Background")
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "NetworkPolicy"):
        name = {"ConfigMap": "shop-config", "Secret": "shop-jwt-keys"}.get(kind, "shop")
        wait_for(lambda kind=kind, name=name: kube.get(kind, namespace, name) is None, 60, message=f"{kind} to be collected")
    assert kube.get("Secret", namespace, "shop-app-secrets") is not None


def test_drift_is_corrected(kube, namespace):
    create_storefront(kube, namespace)
    _migrate_first_version(kube, namespace)
    kube.merge_patch("Deployment", namespace, "shop", {"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": "evil/image:latest"}]}}}})
    kube.delete("Service", namespace, "shop")
    kube.merge_patch("ConfigMap", namespace, "shop-config", {"data": {"STOREFRONT_VERSION": "hacked"}})
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Deployment", namespace, "shop")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "example/storefront-api:1.0.0"
    assert kube.get("Service", namespace, "shop") is not None
    assert kube.get("ConfigMap", namespace, "shop-config")["data"]["STOREFRONT_VERSION"] == "1.0.0"


def test_optional_children_are_removed_when_unset(kube, namespace):
    create_storefront(kube, namespace, ingress={"host": "shop.example.com"})
    _migrate_first_version(kube, namespace)
    assert kube.get("Ingress", namespace, "shop")
    kube.request("PATCH", f"/apis/platform.storefront.dev/v1alpha1/namespaces/{namespace}/storefronts/shop",
                 [{"op": "remove", "path": "/spec/ingress"}], content_type="application/json-patch+json")
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Ingress", namespace, "shop") is None


def test_missing_database_secret_is_reported_not_raised(kube, namespace):
    create_storefront(kube, namespace, with_db_secret=False)
    reconcile(kube, namespace, "shop", SETTINGS)
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "MigrationsSucceeded")["reason"] == "DatabaseSecretNotFound"
    assert condition(sf, "Degraded")["status"] == "True"
    assert condition(sf, "Progressing")["reason"] == "Blocked"
    assert kube.list("Job", namespace) == []
    events = kube.list("Event", namespace)
    assert any(e["reason"] == "DatabaseSecretNotFound" and e["type"] == "Warning" for e in events)


def test_a_missing_read_replica_secret_holds_the_rollout_and_says_why(kube, namespace):
    import base64

    create_storefront(kube, namespace, database={"secretRef": {"name": "shop-db"},
                                                 "readReplicaSecretRef": {"name": "shop-replica"}})
    reconcile(kube, namespace, "shop", SETTINGS)
    sf = kube.get("Storefront", namespace, "shop")
    reason = condition(sf, "MigrationsSucceeded")["reason"]
    assert reason == "ReadReplicaSecretNotFound"
    assert "spec.database.readReplicaSecretRef" in condition(sf, "MigrationsSucceeded")["message"]
    assert kube.list("Job", namespace) == []  # no rollout whose pods could not start
    assert any(e["reason"] == reason and e["type"] == "Warning" for e in kube.list("Event", namespace))

    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-replica", "namespace": namespace},
                 "data": {"dsn": base64.b64encode(b"postgresql+asyncpg://u:p@replica:5432/shop").decode()}})
    reconcile(kube, namespace, "shop", SETTINGS)
    assert condition(kube.get("Storefront", namespace, "shop"), "MigrationsSucceeded")["reason"] == \
        "ReadReplicaSecretKeyMissing"  # the default key is `url`

    kube.merge_patch("Secret", namespace, "shop-replica", {"data": {
        "url": base64.b64encode(b"postgresql+asyncpg://u:p@replica:5432/shop").decode()}})
    reconcile(kube, namespace, "shop", SETTINGS)
    assert len(kube.list("Job", namespace)) == 1  # the migration starts once the Secret is right


def test_pause_leaves_children_alone(kube, namespace):
    create_storefront(kube, namespace, pause=True)
    reconcile(kube, namespace, "shop", SETTINGS)
    sf = kube.get("Storefront", namespace, "shop")
    assert condition(sf, "Progressing")["reason"] == "Paused"
    assert kube.get("Service", namespace, "shop") is None


def test_a_child_that_cannot_be_applied_is_reported_and_the_rest_still_applied(kube, namespace):
    # An immutable ConfigMap squatting on the name: the API server refuses every change to it.
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", "immutable": True,
                 "metadata": {"name": "shop-config", "namespace": namespace}, "data": {"owner": "someone else"}})
    create_storefront(kube, namespace)
    reconcile(kube, namespace, "shop", SETTINGS)
    sf = kube.get("Storefront", namespace, "shop")
    degraded = condition(sf, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "ApplyFailed" and "shop-config" in degraded["message"]
    assert condition(sf, "Ready")["status"] == "False"
    assert kube.get("Service", namespace, "shop") is not None and kube.get("ConfigMap", namespace, "shop-redis") is not None
    assert any(e["reason"] == "ApplyFailed" for e in kube.list("Event", namespace))


def test_switching_on_autoscaling_keeps_the_current_replica_count(kube, namespace):
    create_storefront(kube, namespace, replicas=4)
    _migrate_first_version(kube, namespace)
    assert kube.get("Deployment", namespace, "shop")["spec"]["replicas"] == 4
    kube.merge_patch("Storefront", namespace, "shop", {"spec": {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}}})
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("HorizontalPodAutoscaler", namespace, "shop") is not None
    assert kube.get("Deployment", namespace, "shop")["spec"]["replicas"] == 4, "must not fall back to 1 before the HPA acts"
