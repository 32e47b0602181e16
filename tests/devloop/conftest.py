"""The developer loop's cluster: the harness's real node, a registry on loopback it pulls from.

Like tests/e2e, it holds the machine's one node slot only while the suite is in this directory:
the node is released as the last test here ends, so the two suites never need it at once. A
failing test gets the cluster's pods, events and node logs, and skaffold's output, appended.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devloop_support import LOGS

from storefront_harness.cluster import Cluster, build_node_images
from storefront_harness.platform import REPO
from storefront_harness.registry import Registry

_cluster: Cluster | None = None
_registry: Registry | None = None


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    global _registry
    _registry = Registry().start()
    try:
        yield _registry
    finally:
        _release()


@pytest.fixture(scope="session")
def cluster(registry: Registry) -> Iterator[Cluster]:
    """The node runs the imported datastore and pause images and pulls the rest from the registry."""
    global _cluster
    archive = build_node_images(REPO)
    _cluster = Cluster(registries=(registry.address,)).start([archive])
    try:
        yield _cluster
    finally:
        _release()


def _release() -> None:
    global _cluster, _registry
    started, _cluster = _cluster, None
    registry, _registry = _registry, None
    try:
        if started is not None:
            problems = started.destroy()
            assert not problems, f"the node did not leave the machine as it found it: {problems}"
    finally:
        if registry is not None:
            registry.destroy()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # As in tests/e2e: the directory is no package, so release the node as the suite leaves it.
    if nextitem is None or "tests/devloop/" not in str(nextitem.path):
        _release()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/devloop/" in str(item.path):
            item.add_marker(pytest.mark.devloop)
            item.add_marker(pytest.mark.slow)  # `make test-fast` builds no skaffold
            # Images, the node, two skaffold deployments and a rollout: bounded, but not short.
            item.add_marker(pytest.mark.timeout(1800))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "devloop" not in item.keywords:
        return
    for log in LOGS:
        try:
            report.sections.append((f"{log.name} (last 200 lines)", "\n".join(log.read_text(errors="replace").splitlines()[-200:])))
        except OSError as exc:
            report.sections.append((log.name, f"could not read: {exc}"))
    if _registry is not None:
        report.sections.append(("registry log", "\n".join(_registry.log.read_text(errors="replace").splitlines()[-40:])))
    if _cluster is not None:
        try:
            report.sections.append(("operator and platform pod logs", _pod_logs(_cluster)))
        except Exception as exc:  # noqa: BLE001 - diagnostics must never hide the failure
            report.sections.append(("operator and platform pod logs", f"could not collect: {exc}"))
        try:
            report.sections.append(("cluster state and node logs", _cluster.diagnostics()))
        except Exception as exc:  # noqa: BLE001 - diagnostics must never hide the failure
            report.sections.append(("cluster state and node logs", f"could not collect: {exc}"))


def _pod_logs(cluster: Cluster) -> str:
    """The last lines of every container of the operator's and the platform's pods."""
    out = []
    for namespace in ("storefront-system", "storefront"):
        pods = cluster.kubectl("get", "pods", "-n", namespace, "-o", "name", check=False).stdout.split()
        for pod in pods:
            r = cluster.kubectl("logs", "-n", namespace, pod, "--all-containers", "--tail=60", check=False)
            out.append(f"--- {namespace}/{pod} ---\n{r.stdout[-6000:]}{r.stderr[-500:]}")
    return "\n".join(out) or "no pods"
