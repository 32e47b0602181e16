"""The harness's Kubernetes control plane is a real API server with real controllers."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, watch

from storefront_harness import ControlPlane
from storefront_harness.tools import tool

pytestmark = pytest.mark.kube

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.storefront.dev"},
    "spec": {
        "group": "smoke.storefront.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "required": ["size"],
                                        "properties": {"size": {"type": "integer", "minimum": 1}}}},
            }},
        }],
    },
}


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> client.ApiClient:
    return config.new_client_from_config(str(control_plane.kubeconfig))


def _wait(predicate, timeout: float = 60, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def test_crd_custom_object_create_and_watch(api: client.ApiClient, namespace: str) -> None:
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(CRD)
    _wait(lambda: _established(ext, CRD["metadata"]["name"]))
    custom = client.CustomObjectsApi(api)

    # Watched from the resourceVersion of a list taken before the changes: the API server sends
    # both events whenever the watch connects, so no timing decides what it sees.
    listed = custom.list_namespaced_custom_object("smoke.storefront.dev", "v1", namespace, "widgets")
    body = {"apiVersion": "smoke.storefront.dev/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    custom.create_namespaced_custom_object("smoke.storefront.dev", "v1", namespace, "widgets", body)
    custom.patch_namespaced_custom_object("smoke.storefront.dev", "v1", namespace, "widgets", "w1", {"spec": {"size": 4}})
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    for event in w.stream(custom.list_namespaced_custom_object, "smoke.storefront.dev", "v1", namespace, "widgets",
                          resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=20):
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if len(seen) >= 2:
            w.stop()
    assert seen[:2] == [("ADDED", "w1"), ("MODIFIED", "w1")]

    # The schema is enforced by the API server itself.
    bad = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(client.ApiException) as err:
        custom.create_namespaced_custom_object("smoke.storefront.dev", "v1", namespace, "widgets", bad)
    assert err.value.status == 422


def test_garbage_collector_deletes_owned_objects(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}, "data": {"k": "v"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid,
           "blockOwnerDeletion": True}
    core.create_namespaced_secret(namespace, {"metadata": {"name": "owned", "ownerReferences": [ref]},
                                              "stringData": {"k": "v"}})
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    def gone() -> bool:
        try:
            core.read_namespaced_secret("owned", namespace)
            return False
        except client.ApiException as e:
            return e.status == 404

    _wait(gone, timeout=60)


def test_deployment_controller_creates_replicaset_and_pods(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    labels = {"app": "smoke"}
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "smoke"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "registry.invalid/smoke:1"}]}}},
    })
    _wait(lambda: apps.list_namespaced_replica_set(namespace).items)
    pods = _wait(lambda: client.CoreV1Api(api).list_namespaced_pod(namespace).items)
    # No nodes: pods exist but are never scheduled.
    assert all(p.status.phase == "Pending" for p in pods)


def test_rbac_is_enforced_for_other_users(control_plane: ControlPlane, tmp_path: Path) -> None:
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "nobody.kubeconfig", "nobody")
    nobody = config.new_client_from_config(str(kubeconfig))
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(nobody).list_namespaced_secret("default")
    assert err.value.status == 403


def test_helm_template_and_lint_of_a_minimal_chart() -> None:
    chart = Path(__file__).parent / "minimal-chart"
    helm = tool("helm")
    lint = subprocess.run([helm, "lint", str(chart)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in lint.stdout
    rendered = subprocess.run([helm, "template", "demo", str(chart), "--set", "greeting=hi"],
                              capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert docs == [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo-minimal", "labels": {"app.kubernetes.io/name": "minimal",
                                                         "app.kubernetes.io/instance": "demo"}},
        "data": {"greeting": "hi"},
    }]


def test_kubeconfigs_reference_their_keys_instead_of_embedding_them(control_plane: ControlPlane, tmp_path) -> None:
    import tempfile

    before = set(Path(tempfile.gettempdir()).iterdir())
    path = control_plane.write_kubeconfig(tmp_path / "viewer.kubeconfig", "viewer", ("viewers",))
    loaded = yaml.safe_load(path.read_text())
    user = loaded["users"][0]["user"]
    assert not any(key.endswith("-data") for key in user)
    assert Path(user["client-key"]).stat().st_mode & 0o077 == 0  # the private key: owner only
    assert path.stat().st_mode & 0o077 == 0
    # Loading it with the Python client writes no copy of the key to a temporary file.
    api = config.new_client_from_config(config_file=str(path))
    api.close()
    leaked = [p for p in set(Path(tempfile.gettempdir()).iterdir()) - before
              if p.is_file() and b"PRIVATE KEY" in p.read_bytes()[:64]]
    assert leaked == []
    # A kubeconfig that must stand alone (mounted into a container) embeds them instead.
    alone = yaml.safe_load(control_plane.write_kubeconfig(tmp_path / "alone", "viewer", embed=True).read_text())
    assert {"client-certificate-data", "client-key-data"} <= set(alone["users"][0]["user"])
