"""The rendered charts against the real API server: schema validation by server-side dry run,
Pod Security "restricted" admission, and a real `helm install` / `upgrade` / `uninstall`."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import yaml
from packaging_support import (
    INGRESS_CHART,
    OPERATOR_CHART,
    PLATFORM_CHART,
    PRODUCTION_VALUES,
    as_bare_pod,
    helm,
    render,
)

from storefront_harness import ControlPlane
from storefront_harness.polling import wait_for

pytestmark = pytest.mark.kube

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")

RENDERINGS = [
    (OPERATOR_CHART, ()),
    (OPERATOR_CHART, ("--set", "replicaCount=2", "--set", "serviceMonitor.enabled=true")),
    (PLATFORM_CHART, ()),
    (PLATFORM_CHART, ("-f", str(PRODUCTION_VALUES))),
    (INGRESS_CHART, ()),
]
RENDERING_IDS = ["operator", "operator-ha", "platform", "platform-production", "ingress"]


def _restricted_namespace(plane: ControlPlane) -> str:
    name = f"pss-{uuid.uuid4().hex[:10]}"
    plane.kubectl("create", "namespace", name)
    plane.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted",
                  "pod-security.kubernetes.io/enforce-version=latest", "pod-security.kubernetes.io/warn=restricted")
    return name


@pytest.fixture
def restricted_namespace(storefront_crds: ControlPlane):
    name = _restricted_namespace(storefront_crds)
    yield name
    storefront_crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _dry_run(plane: ControlPlane, docs: list[dict]) -> tuple[int, str]:
    result = plane.kubectl("apply", "--dry-run=server", "-o", "name", "-f", "-",
                           input=yaml.safe_dump_all(docs), check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("chart, extra", RENDERINGS, ids=RENDERING_IDS)
def test_every_rendered_object_passes_server_side_dry_run(storefront_crds, namespace, chart, extra) -> None:
    """The API server validates each object against its schema (the Storefront against the
    CRD's OpenAPI schema and CEL rules) without storing anything."""
    # Unique cluster-scoped names, so parallel or earlier installs cannot collide.
    docs = render(chart, f"dry-{namespace}", namespace, *extra,
                  *(("--set", f"peering.name={namespace}") if chart == OPERATOR_CHART else ()))
    code, output = _dry_run(storefront_crds, docs)
    assert code == 0, output
    for doc in docs:
        assert doc["metadata"]["name"] in output, f"{doc['kind']}/{doc['metadata']['name']} not applied:\n{output}"
    assert "Warning" not in output, output


def test_a_storefront_the_crd_refuses_fails_the_dry_run(storefront_crds, namespace) -> None:
    """Control for the test above: the dry run really validates the Storefront."""
    docs = render(PLATFORM_CHART, "storefront", namespace)
    sf = next(d for d in docs if d["kind"] == "Storefront")
    sf["spec"]["jwt"]["algorithm"] = "HS256"
    code, output = _dry_run(storefront_crds, [sf])
    assert code != 0 and "spec.jwt.algorithm" in output, output


@pytest.mark.parametrize("chart, extra", RENDERINGS, ids=RENDERING_IDS)
def test_rendered_pods_meet_pod_security_restricted(storefront_crds, restricted_namespace, chart, extra) -> None:
    docs = render(chart, f"pss-{restricted_namespace}", restricted_namespace, *extra,
                  *(("--set", f"peering.name={restricted_namespace}") if chart == OPERATOR_CHART else ()))
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    pods = [d for d in docs if d["kind"] == "Pod"] + [as_bare_pod(w) for w in workloads]
    assert pods
    # A Pod naming a ServiceAccount is only admitted when that account exists.
    accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
    if accounts:
        storefront_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(accounts))
    # For workloads the admission controller only warns; for Pods it refuses.
    code, output = _dry_run(storefront_crds, workloads + pods)
    assert code == 0, output
    assert "PodSecurity" not in output, output


def test_the_restricted_namespace_does_enforce(storefront_crds, restricted_namespace) -> None:
    """Control for the test above: a pod that is not restricted is refused there."""
    docs = render(PLATFORM_CHART, "storefront", restricted_namespace)
    pod = as_bare_pod(next(d for d in docs if d["kind"] == "StatefulSet"))
    del pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
    code, output = _dry_run(storefront_crds, [pod])
    assert code != 0 and "violates PodSecurity" in output and "allowPrivilegeEscalation" in output, output


def _wait_for(what: str, probe, timeout: float = 60.0):
    return wait_for(probe, timeout, interval=0.5, message=what)


def _get(plane: ControlPlane, *args: str) -> dict:
    return json.loads(plane.kubectl("get", *args, "-o", "json").stdout)


def _pod_names(plane: ControlPlane, namespace: str) -> set[str]:
    return {p["metadata"]["name"] for p in _get(plane, "pods", "-n", namespace)["items"]}


def _secret(plane: ControlPlane, namespace: str, name: str, key: str) -> str:
    return base64.b64decode(_get(plane, "secret", name, "-n", namespace)["data"][key]).decode()


def test_helm_install_upgrade_and_uninstall_of_both_charts(storefront_crds) -> None:
    """Both charts install into the real API server; their workloads' pods are admitted in
    namespaces that enforce Pod Security "restricted" (created by the real controllers, never
    scheduled: the harness has no nodes); the generated passwords survive an upgrade and an
    uninstall."""
    plane = storefront_crds
    suffix = uuid.uuid4().hex[:8]
    operator_ns, platform_ns = _restricted_namespace(plane), _restricted_namespace(plane)
    operator_release = f"sfop-{suffix}"
    try:
        helm("install", operator_release, str(OPERATOR_CHART), "-n", operator_ns, "--wait=false",
             "--set", f"peering.name=sfop-{suffix}", "--set", "replicaCount=2",
             "--kubeconfig", str(plane.kubeconfig))
        deployment = _get(plane, "deployment", "-n", operator_ns, "-l", f"app.kubernetes.io/instance={operator_release}")
        assert len(deployment["items"]) == 1
        _get(plane, "clusterkopfpeering", f"sfop-{suffix}")
        _get(plane, "service", f"{operator_release}-storefront-operator-metrics", "-n", operator_ns)
        operator_pods = _wait_for("operator pods", lambda: len(_pod_names(plane, operator_ns)) == 2 and _pod_names(plane, operator_ns))
        assert all(name.startswith(f"{operator_release}-storefront-operator-") for name in operator_pods)

        helm("install", "storefront", str(PLATFORM_CHART), "-n", platform_ns, "--wait=false",
             "--set", f"development.networkPolicy.operatorNamespace={operator_ns}",
             "--kubeconfig", str(plane.kubeconfig))
        sf = _get(plane, "storefront", "storefront", "-n", platform_ns)
        assert sf["spec"]["redis"]["nodes"]["serviceName"] == "storefront-redis-headless"
        # Defaults the CRD fills in came back from the server.
        assert sf["spec"]["redis"]["nodes"]["port"] == 6379
        _wait_for("datastore pods", lambda: {"storefront-postgresql-0", "storefront-redis-0", "storefront-redis-1",
                                             "storefront-redis-2"} <= _pod_names(plane, platform_ns))
        db_url = _secret(plane, platform_ns, "storefront-postgresql", "url")
        redis_password = _secret(plane, platform_ns, "storefront-redis", "password")

        helm("upgrade", "storefront", str(PLATFORM_CHART), "-n", platform_ns, "--wait=false",
             "--set", f"development.networkPolicy.operatorNamespace={operator_ns}", "--set", "replicas=3",
             "--kubeconfig", str(plane.kubeconfig))
        assert _get(plane, "storefront", "storefront", "-n", platform_ns)["spec"]["replicas"] == 3
        assert _secret(plane, platform_ns, "storefront-postgresql", "url") == db_url
        assert _secret(plane, platform_ns, "storefront-redis", "password") == redis_password

        helm("uninstall", "storefront", "-n", platform_ns, "--wait=false", "--kubeconfig", str(plane.kubeconfig))
        assert plane.kubectl("get", "storefront", "storefront", "-n", platform_ns, check=False).returncode != 0
        # Kept, like the data volume, so a reinstall finds the password the data was made with.
        assert _secret(plane, platform_ns, "storefront-postgresql", "url") == db_url
        helm("install", "storefront", str(PLATFORM_CHART), "-n", platform_ns, "--wait=false",
             "--kubeconfig", str(plane.kubeconfig))
        assert _secret(plane, platform_ns, "storefront-postgresql", "url") == db_url
    finally:
        for ns in (platform_ns, operator_ns):
            # --no-hooks: the operator's pre-delete hook is a Job, and with no node it never runs.
            helm("uninstall", "storefront" if ns == platform_ns else operator_release, "-n", ns, "--wait=false",
                 "--no-hooks", "--kubeconfig", str(plane.kubeconfig), check=False)
            plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)
