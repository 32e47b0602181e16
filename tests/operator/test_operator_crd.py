"""The CRD: one source of truth, and the API server refuses bad specs."""

from __future__ import annotations

import copy

import pytest
import yaml
from sfop_support import REPO

from storefront_operator import crd

pytestmark = pytest.mark.kube

VALID = {
    "apiVersion": "platform.storefront.dev/v1alpha1",
    "kind": "Storefront",
    "metadata": {"name": "shop"},
    "spec": {
        "image": "example/storefront-api:1.0.0",
        "version": "1.0.0",
        "database": {"secretRef": {"name": "shop-db"}},
        "redis": {"mode": "standalone", "address": "redis:6379"},
    },
}


@pytest.mark.parametrize("path", [
    "charts/storefront-operator/crds/storefronts.platform.storefront.dev.yaml",
    "k8s/crds/storefronts.platform.storefront.dev.yaml",
])
def test_crd_files_equal_the_generated_output(path):
    assert (REPO / path).read_text() == crd.render("storefront"), f"{path} is stale: run hack/gen-crds.sh"


@pytest.mark.parametrize("path", ["charts/storefront-operator/crds/kopf-peering.yaml", "k8s/crds/kopf-peering.yaml"])
def test_peering_crd_files_equal_the_generated_output(path):
    assert (REPO / path).read_text() == crd.render("peering")


def _walk(schema, path="root"):
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")


def test_every_field_has_a_description():
    root = crd.storefront_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = [p for p, s in _walk(root) if not s.get("description") and p != "root.metadata" ]
    assert missing == []


def _apply(control_plane, namespace, body, check=True):
    return control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body), check=check)


def test_valid_spec_is_accepted_with_defaults(crds, namespace):
    _apply(crds, namespace, VALID)
    got = yaml.safe_load(crds.kubectl("get", "sf", "shop", "-n", namespace, "-o", "yaml").stdout)
    assert got["spec"]["replicas"] == 2
    assert got["spec"]["jwt"] == {"algorithm": "EdDSA", "rotationInterval": "720h", "accessTokenTTL": "15m", "propagationDelay": "120s"}
    assert got["spec"]["migrations"] == {"enabled": True, "timeoutSeconds": 600, "backoffLimit": 2, "policy": "Refuse"}
    assert got["spec"]["database"]["secretRef"]["key"] == "url"
    explained = crds.kubectl("explain", "storefronts.spec.redis.mode").stdout
    assert "standalone" in explained
    explained = crds.kubectl("explain", "storefronts.spec.migrations").stdout
    assert "approvedRevisions" in explained and "MigrationNeedsApproval" in explained and "RequireApproval" in explained


def _mutate(fn):
    body = copy.deepcopy(VALID)
    fn(body["spec"])
    return body


BAD = {
    "missing image": (lambda s: s.pop("image"), "image"),
    "negative replicas": (lambda s: s.update(replicas=-1), "replicas"),
    "unknown redis mode": (lambda s: s["redis"].update(mode="sentinel"), "mode"),
    "cluster without nodes": (lambda s: s.update(redis={"mode": "cluster"}), "requires redis.nodes"),
    "standalone without address": (lambda s: s.update(redis={"mode": "standalone"}), "requires redis.address"),
    "min above max replicas": (lambda s: s.update(autoscaling={"minReplicas": 5, "maxReplicas": 2}), "must not exceed"),
    "both serviceName and selector": (
        lambda s: s.update(redis={"mode": "cluster", "nodes": {"serviceName": "r", "selector": {"a": "b"}}}), "exactly one"),
    "propagation delay longer than rotation": (
        lambda s: s.update(jwt={"rotationInterval": "1m", "propagationDelay": "2m"}), "longer than"),
    "bad duration": (lambda s: s.update(jwt={"accessTokenTTL": "fifteen"}), "accessTokenTTL"),
    "unknown algorithm": (lambda s: s.update(jwt={"algorithm": "HS256"}), "algorithm"),
    "sampling ratio above 1": (lambda s: s.update(observability={"otlpEndpoint": "http://c:4318", "samplingRatio": 2}),
                               "samplingRatio"),
    "otlp endpoint not a URL": (lambda s: s.update(observability={"otlpEndpoint": "collector:4318"}), "otlpEndpoint"),
    "unknown migration policy": (lambda s: s.update(migrations={"policy": "Sometimes"}), "migrations.policy"),
    "empty approved revision": (lambda s: s.update(migrations={"approvedRevisions": [""]}), "approvedRevisions"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_specs_are_refused(crds, namespace, case):
    mutate, expected = BAD[case]
    result = _apply(crds, namespace, _mutate(mutate), check=False)
    assert result.returncode != 0, f"{case} was accepted"
    assert expected in result.stderr, result.stderr


@pytest.mark.parametrize("sample", ["storefront-minimal.yaml", "storefront-production.yaml"])
def test_samples_are_valid(crds, namespace, sample):
    path = REPO / "k8s" / "samples" / sample
    result = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    from storefront_operator.model import Storefront
    body = yaml.safe_load(path.read_text())
    body["metadata"].update(namespace=namespace, uid="x")
    Storefront.from_body(body)  # the operator can act on it too
