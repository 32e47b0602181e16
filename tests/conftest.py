"""Session fixtures: the real PostgreSQL, Redis and Kubernetes control plane of the harness.

Each component starts once per test session, lazily (a run that needs no Kubernetes never
starts it), and is torn down at the end even when tests fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storefront_harness import ControlPlane, PostgresServer, PostgresStandby, RedisCluster, RedisServer
from storefront_harness.process import live_process, live_processes
from storefront_harness.tools import GROUP_TOOLS, BackgroundBuild

# `make test` names the tool groups only some tests need (STOREFRONT_BACKGROUND_TOOLS): those not
# built yet are built beside the run, and the tests that use them (marker ``tools``) go last.
BACKGROUND_TOOLS_ENV = "STOREFRONT_BACKGROUND_TOOLS"
_background_build: BackgroundBuild | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _background_build
    if hasattr(config, "workerinput") or config.option.collectonly:
        return  # the controller starts it, before its workers (they inherit where it reports)
    missing = BackgroundBuild.missing(os.environ.get(BACKGROUND_TOOLS_ENV, "").split())
    if missing:
        _background_build = BackgroundBuild(missing, Path(tempfile.mkdtemp(prefix="sf-tools-"))).start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _background_build is not None:
        _background_build.stop()
        shutil.rmtree(_background_build.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def database_factory(postgres_server: PostgresServer) -> Iterator[Callable[[], str]]:
    """Creates a fresh, empty database and returns its SQLAlchemy async URL."""
    created: list[str] = []

    def make() -> str:
        name = f"sf_{uuid.uuid4().hex[:12]}"
        created.append(name)
        return postgres_server.create_database(name)

    yield make
    for name in created:
        if postgres_server.running:
            postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def postgres_pair() -> Iterator[tuple[PostgresServer, PostgresStandby]]:
    """A primary of its own and a hot standby streaming from it (tests pause and stop them)."""
    primary = PostgresServer().start()
    standby = None
    try:
        primary.create_database("storefront")
        standby = PostgresStandby(primary).start()
        yield primary, standby
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


@pytest.fixture(scope="session")
def database_url(database_factory: Callable[[], str]) -> str:
    """One database for the session."""
    return database_factory()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def redis_cluster_factory() -> Iterator[Callable[[int], RedisCluster]]:
    """Starts N cluster-mode Redis nodes that are not yet joined into a cluster."""
    clusters: list[RedisCluster] = []

    def make(size: int = 3) -> RedisCluster:
        cluster = RedisCluster(size).start()
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.destroy()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = ControlPlane().start()
    os.environ["KUBECONFIG"] = str(plane.kubeconfig)
    try:
        yield plane
    finally:
        plane.destroy()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


# The suites whose tests run pods on the machine's one node, besides tests marked ``node``.
_NODE_SUITES = ("tests/e2e/", "tests/devloop/")


@pytest.hookimpl(tryfirst=True)  # before xdist turns the groups into the items' ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scheduling for xdist (``make test``: ``--dist loadgroup --no-loadscope-reorder``). The
    machine has one node slot, so every test that runs pods (marker ``node``) is one group,
    first in the queue and in its own order: one worker takes it while the other works through
    the rest, a module at a time (module fixtures start once). Without xdist the groups are inert."""
    def runs_pods(item: pytest.Item) -> bool:
        return item.get_closest_marker("node") is not None or item.nodeid.startswith(_NODE_SUITES)

    node, rest, with_tools = [], [], []
    for item in items:
        (node if runs_pods(item) else with_tools if item.get_closest_marker("tools") else rest).append(item)
    for item in node:
        item.add_marker(pytest.mark.node)
        item.add_marker(pytest.mark.xdist_group("node"))
    for item in rest + with_tools:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0].removeprefix("tests/").removesuffix(".py")))
    # Tests of tools that may still be building in the background run last, in build order.
    order = [t for group in os.environ.get(BACKGROUND_TOOLS_ENV, "").split() for t in GROUP_TOOLS.get(group, ())]
    with_tools.sort(key=lambda item: max(order.index(t) if t in order else -1
                                         for t in item.get_closest_marker("tools").args))
    items[:] = node + rest + with_tools


def _xdist_workers() -> list[int]:
    """This process's children when it is an xdist controller: its workers (and a tool build
    started beside the run, which stops too)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return []
    return [pid for pid, stat in live_processes().items() if stat.ppid == os.getpid()]


def _interrupt_on_sigterm(signum, frame):
    # Once: a second signal (the process group's and a forwarded one) must not cut a teardown short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # An xdist controller kills its workers 10 s after an interrupt, before a worker has torn a
    # node down: they are signalled and waited for first (bounded), each tearing its own down.
    workers = _xdist_workers()
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 300
    while workers and time.monotonic() < deadline:
        workers = [pid for pid in workers if live_process(pid) is not None]
        time.sleep(0.5)
    raise KeyboardInterrupt(f"signal {signum}")


# A run stopped with SIGTERM (a CI time limit, `timeout`) tears its fixtures down like Ctrl-C
# does, so no server, node or pod outlives it.
signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
