"""The end-to-end suite's cluster: the harness's control plane with a real node beside it.

Every image is built locally and imported into the node's containerd; nothing is pulled. The
cluster lives while the suite is in this directory (the node's components would otherwise keep
using CPU, and the machine's one node slot, while the rest of the suite runs). A failing test
gets the cluster's pods, events and the node's component logs appended to its report.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import E2E, E2E_VALUES, Platform

from storefront_harness.cluster import Cluster, build_node_images
from storefront_harness.platform import REPO, install_ingress, install_operator, install_platform

_cluster: Cluster | None = None


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Started for the first end-to-end test and stopped after the last one (see
    ``pytest_runtest_teardown``): the node holds the machine's one node slot and two cores' worth
    of components, which the rest of the suite (run-operator's own node among it) needs back."""
    global _cluster
    archive = build_node_images(REPO)
    _cluster = Cluster().start([archive])
    try:
        yield _cluster
    finally:
        _release_cluster()


def _release_cluster() -> None:
    global _cluster
    started, _cluster = _cluster, None
    if started is not None:
        problems = started.destroy()
        assert not problems, f"the node did not leave the machine as it found it: {problems}"


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # A directory without __init__.py is no package to pytest, so a package-scoped fixture would
    # live to the end of the session: release the node as the suite leaves tests/e2e/.
    if nextitem is None or "tests/e2e/" not in str(nextitem.path):
        _release_cluster()


@pytest.fixture(scope="session")
def e2e(cluster: Cluster) -> E2E:
    return E2E(cluster)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _cluster is not None and "e2e" in item.keywords:
        try:
            report.sections.append(("cluster state and node logs", _cluster.diagnostics()))
        except Exception as exc:  # noqa: BLE001 - diagnostics must never hide the failure
            report.sections.append(("cluster state and node logs", f"could not collect: {exc}"))


@pytest.fixture(scope="session")
def platform(e2e: E2E) -> Platform:
    """The operator chart in a restricted ``storefront-system``, then the platform chart (its
    development PostgreSQL and Redis cluster from the local images) in a restricted ``shop``,
    and Traefik for its Ingress in a restricted ``ingress``: the state the tests of this
    package start from, the Storefront Ready before any of them runs."""
    # Short waits between migration attempts keep the failure tests quick.
    install_operator(e2e.cluster, "operator.migrationBackoffSeconds=10")
    platform = Platform("shop", "storefront")
    install_platform(e2e.cluster, platform.namespace, platform.name, values=(E2E_VALUES,))
    # Its pod starts while the platform's do; the Ingress test waits for it.
    install_ingress(e2e.cluster, platform.namespace)
    e2e.wait_condition(platform.namespace, platform.name, "Ready", timeout=420)
    return platform


# The tests share one platform and change it in turn; deleting it comes last.
_MODULE_ORDER = ("test_platform", "test_queue", "test_redis", "test_rollout", "test_rotation", "test_autoscaling",
                 "test_schema_safety", "test_teardown")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return _MODULE_ORDER.index(module) if module in _MODULE_ORDER else len(_MODULE_ORDER)
    e2e_items = [i for i in items if "tests/e2e/" in str(i.fspath)]
    if not e2e_items:
        return
    first = items.index(e2e_items[0])
    rest = [i for i in items if i not in e2e_items]
    ordered = sorted(e2e_items, key=rank)
    items[:] = rest[:first] + ordered + rest[first:]
    for item in ordered:
        item.add_marker(pytest.mark.e2e)
        # The first test also waits for the images, the node and the platform to come up.
        item.add_marker(pytest.mark.timeout(1500))
