"""A release that narrows the API Deployment's immutable selector: the operator replaces the
Deployment and the new one adopts the running ReplicaSet, against the real API server, its
garbage collector and its Deployment controller."""

from __future__ import annotations

import pytest
from sfop_support import complete_job, create_storefront, wait_for

from storefront_operator.children.meta import api_selector_labels, selector_labels
from storefront_operator.model import Storefront
from storefront_operator.reconcile import reconcile
from storefront_operator.selector_change import selector_outdated
from storefront_operator.settings import Settings

SETTINGS = Settings(resync_seconds=2, migration_backoff_seconds=1, migration_backoff_cap_seconds=4)
WIDE = {"app.kubernetes.io/name": "storefront", "app.kubernetes.io/instance": "shop"}


def _deployment(selector: dict, owner_uid: str = "uid-1") -> dict:
    return {"metadata": {"ownerReferences": [{"uid": owner_uid}]},
            "spec": {"selector": {"matchLabels": selector}}}


def test_only_an_owned_deployment_with_another_selector_is_replaced():
    narrow = _deployment({**WIDE, "app.kubernetes.io/component": "api"})
    assert selector_outdated(_deployment(WIDE), narrow, "uid-1")
    assert not selector_outdated(None, narrow, "uid-1")
    assert not selector_outdated(narrow, narrow, "uid-1")
    assert not selector_outdated(_deployment(WIDE, owner_uid="someone-else"), narrow, "uid-1")


def _replica_sets(kube, namespace: str) -> list[dict]:
    return kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/replicasets",
                        query={"labelSelector": "app.kubernetes.io/instance=shop,app.kubernetes.io/component=api"})["items"]


@pytest.mark.kube
def test_a_deployment_of_the_first_release_is_replaced_and_its_pods_adopted(kube, namespace):
    create_storefront(kube, namespace)
    reconcile(kube, namespace, "shop", SETTINGS)
    complete_job(kube, namespace, kube.get("Storefront", namespace, "shop")["status"]["migration"]["jobName"],
                 revision="0001_initial")
    reconcile(kube, namespace, "shop", SETTINGS)
    current = kube.get("Deployment", namespace, "shop")
    sf = Storefront.from_body(kube.get("Storefront", namespace, "shop"))
    assert current["spec"]["selector"]["matchLabels"] == api_selector_labels(sf)

    # What the first release left: the same pods under the wide selector, and its ReplicaSet.
    kube.delete("Deployment", namespace, "shop")
    wait_for(lambda: kube.get("Deployment", namespace, "shop") is None and not _replica_sets(kube, namespace), 30,
             message="the current Deployment and its ReplicaSet to go")
    old = kube.create({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {k: current["metadata"][k] for k in ("name", "namespace", "labels", "ownerReferences")},
                       "spec": {**{k: current["spec"][k] for k in ("replicas", "strategy", "template")},
                                "selector": {"matchLabels": selector_labels(sf)}}})
    wait_for(lambda: len(_replica_sets(kube, namespace)) == 1, 30, message="the first release's ReplicaSet")
    [running] = _replica_sets(kube, namespace)

    outcome = reconcile(kube, namespace, "shop", SETTINGS)
    replaced = kube.get("Deployment", namespace, "shop")
    assert replaced["metadata"]["uid"] != old["metadata"]["uid"]
    assert replaced["spec"]["selector"]["matchLabels"] == api_selector_labels(sf)
    assert not any(c["type"] == "Degraded" and c["status"] == "True" for c in outcome.status["conditions"]), \
        outcome.status["conditions"]

    def adopted() -> bool:
        sets = _replica_sets(kube, namespace)
        return [(rs["metadata"]["uid"], [r["uid"] for r in rs["metadata"].get("ownerReferences") or []])
                for rs in sets] == [(running["metadata"]["uid"], [replaced["metadata"]["uid"]])]
    wait_for(adopted, 30, message="the running ReplicaSet to be adopted",
             diagnostics=lambda: str(_replica_sets(kube, namespace)))
    events = kube.list("Event", namespace)
    assert any(e["reason"] == "DeploymentReplaced" for e in events), [e["reason"] for e in events]

    # Settled: the next reconcile leaves the Deployment alone.
    reconcile(kube, namespace, "shop", SETTINGS)
    assert kube.get("Deployment", namespace, "shop")["metadata"]["uid"] == replaced["metadata"]["uid"]
