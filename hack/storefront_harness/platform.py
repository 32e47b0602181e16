"""Installing the platform on a harness cluster, as a platform team would: the operator's chart
in a namespace that enforces Pod Security ``restricted``, then the platform chart (a
``Storefront`` with its development PostgreSQL and Redis cluster) from the local images, and
the Ingress controller's chart (Traefik) in a restricted namespace of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .cluster import Cluster
from .tools import tool

REPO = Path(__file__).resolve().parents[2]
OPERATOR_CHART = REPO / "charts" / "storefront-operator"
PLATFORM_CHART = REPO / "charts" / "storefront"
LOCAL_VALUES = PLATFORM_CHART / "values-local.yaml"
OPERATOR_NAMESPACE = "storefront-system"
INGRESS_CHART = REPO / "charts" / "ingress-traefik"
INGRESS_NAMESPACE = "ingress"
INGRESS_RELEASE = "ingress-traefik"
# The IngressClass that chart creates, which the platform chart's ingress.className names.
INGRESS_CLASS = "traefik"
# The tag hack/build-node-images.sh gives the app and operator images.
LOCAL_TAG = "local"


def helm(cluster: Cluster, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    r = subprocess.run([tool("helm"), "--kubeconfig", str(cluster.kubeconfig), *args],
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def restricted_namespace(cluster: Cluster, name: str) -> str:
    """A namespace where every pod must meet Pod Security ``restricted`` or be refused."""
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/enforce-version=latest")
    return name


def install_operator(cluster: Cluster, *settings: str) -> None:
    """The operator's chart (its CRDs, RBAC and the operator pod), waited for until available."""
    restricted_namespace(cluster, OPERATOR_NAMESPACE)
    extra = [arg for setting in settings for arg in ("--set", setting)]
    helm(cluster, "install", "storefront-operator", str(OPERATOR_CHART), "-n", OPERATOR_NAMESPACE,
         "--set", f"image.tag={LOCAL_TAG}", "--set", "image.pullPolicy=Never", *extra, "--wait", "--timeout", "5m")


def install_platform(cluster: Cluster, namespace: str, name: str = "storefront", values: tuple[Path, ...] = ()) -> None:
    """The platform chart with the local images; returns at once (the operator takes it from there)."""
    restricted_namespace(cluster, namespace)
    files = [arg for path in (LOCAL_VALUES, *values) for arg in ("-f", str(path))]
    helm(cluster, "install", name, str(PLATFORM_CHART), "-n", namespace, *files, "--wait=false")


def install_ingress(cluster: Cluster, *watch_namespaces: str, wait: bool = False) -> str:
    """Traefik from the local image, serving the ``traefik`` IngressClass in ``watch_namespaces``
    only, behind a NodePort on the node's address; returns the Service's name. Without ``wait``
    it returns at once (its pod starts while the platform does)."""
    restricted_namespace(cluster, INGRESS_NAMESPACE)
    namespaces = "{" + ",".join(watch_namespaces) + "}"
    helm(cluster, "install", INGRESS_RELEASE, str(INGRESS_CHART), "-n", INGRESS_NAMESPACE,
         "--set", "image.pullPolicy=Never", "--set", f"ingressClass.name={INGRESS_CLASS}",
         "--set", f"watchNamespaces={namespaces}",
         *(("--wait", "--timeout", "3m") if wait else ("--wait=false",)))
    return INGRESS_RELEASE  # the chart names its objects after a release that contains its name
