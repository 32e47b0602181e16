"""The operator killed (SIGKILL) mid-migration and mid-rotation, then started again: it resumes
where it was — adopts the migration Job it started instead of starting another, activates the
key it had published instead of publishing a new one — and the Storefront ends Ready.

Runs the real operator process against the harness's API server and controller manager; the
kubelet's part (pods finishing, becoming Ready) is played by ``bench.kubelet_sim``.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from operator_support import OperatorProcess, condition, storefront

from bench.kubelet_sim import SimulatedKubelet
from storefront_harness.polling import wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.kube, pytest.mark.slow]

CRDS = ["storefronts.platform.storefront.dev"]
ROTATE = "platform.storefront.dev/rotate-keys"
MIGRATION_SELECTOR = "app.kubernetes.io/component=migrations"


@pytest.fixture(scope="module")
def kube(control_plane):
    from operator_support import REPO

    from storefront_operator.kube import Kube

    control_plane.kubectl("apply", "--server-side", "-f", str(REPO / "k8s" / "crds"))
    for crd in CRDS:
        control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}")
    return Kube.from_kubeconfig(str(control_plane.kubeconfig))


@pytest.fixture
def operator(control_plane, tmp_path, namespace):
    # Watching only this test's namespace: Storefronts other suites left behind are not ours.
    process = OperatorProcess(control_plane.kubeconfig, tmp_path / "operator.log",
                              STOREFRONT_OPERATOR_NAMESPACES=namespace)
    yield process
    process.stop()


@pytest.fixture
def kubelet(kube):
    sim = SimulatedKubelet(kube, revision="0004_outbox_webhooks")
    sim.start()
    yield sim
    sim.stop()


def _ready(kube, namespace, name) -> bool:
    return condition(kube.get("Storefront", namespace, name) or {}, "Ready").get("status") == "True"


def _keyset(kube, namespace, name) -> dict:
    secret = kube.get("Secret", namespace, f"{name}-jwt-keys")
    return json.loads(base64.b64decode(secret["data"]["keyset.json"]))


def test_killed_mid_migration_adopts_its_job(kube, operator, kubelet, namespace):
    operator.start()
    for obj in storefront(namespace, "shop"):
        kube.create(obj)
    job_name = wait_for(lambda: ((kube.get("Storefront", namespace, "shop").get("status") or {}).get("migration") or {})
                        .get("jobName"), 60, message="the migration Job to be recorded")
    wait_for(lambda: kube.get("Job", namespace, job_name), 60, message=f"Job {job_name}")
    operator.kill()

    # The Job finishes while no operator runs.
    kubelet.watch(namespace)
    wait_for(lambda: condition(kube.get("Job", namespace, job_name), "Complete").get("status") == "True", 60,
             message="the Job to complete")
    assert kube.get("Deployment", namespace, "shop") is None or \
        kube.get("Deployment", namespace, "shop")["spec"]["template"]["spec"]["containers"][0]["image"] != \
        "example/storefront-api:1.0.0", "the image must not roll out before the migration is seen to succeed"

    operator.start()
    wait_for(lambda: _ready(kube, namespace, "shop"), 90, message="Ready after the restart")
    jobs = [j["metadata"]["name"] for j in kube.list("Job", namespace, label_selector=MIGRATION_SELECTOR)]
    assert jobs == [job_name], f"the restarted operator started another migration: {jobs}"
    status = kube.get("Storefront", namespace, "shop")["status"]
    assert status["schemaRevision"] == "0004_outbox_webhooks"
    assert status["version"] == "1.0.0"
    assert condition({"status": status}, "MigrationsSucceeded")["status"] == "True"
    image = kube.get("Deployment", namespace, "shop")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "example/storefront-api:1.0.0"


def test_killed_mid_rotation_activates_the_published_key(kube, operator, kubelet, namespace):
    kubelet.watch(namespace)
    operator.start()
    for obj in storefront(namespace, "shop", jwt={"propagationDelay": "4s"}):
        kube.create(obj)
    wait_for(lambda: _ready(kube, namespace, "shop"), 90, message="the Storefront to be Ready")
    first = _keyset(kube, namespace, "shop")
    old_kid = first["active_kid"]

    kube.merge_patch("Storefront", namespace, "shop", {"metadata": {"annotations": {ROTATE: "restart-test"}}})
    published = wait_for(lambda: next((k for k in _keyset(kube, namespace, "shop")["keys"] if k["state"] == "pending"),
                                      None), 30, interval=0.05, message="a key to be published")
    operator.kill()
    killed_at = time.monotonic()

    # While the operator is down nothing activates it: the old key keeps signing.
    time.sleep(5)
    during = _keyset(kube, namespace, "shop")
    assert during["active_kid"] == old_kid
    assert {k["kid"]: k["state"] for k in during["keys"]} == {old_kid: "active", published["kid"]: "pending"}

    operator.start()
    after = wait_for(lambda: (lambda ks: ks if ks["active_kid"] == published["kid"] else None)(
        _keyset(kube, namespace, "shop")), 30, message="the published key to be activated")
    assert time.monotonic() - killed_at >= 4, "activation must wait out the propagation delay"
    states = {k["kid"]: k["state"] for k in after["keys"]}
    assert states == {old_kid: "retired", published["kid"]: "active"}, \
        f"the restart must finish the rotation it found, not start another: {states}"
    time.sleep(3)  # a few resyncs later, the handled request still does not rotate again
    assert {k["kid"] for k in _keyset(kube, namespace, "shop")["keys"]} == {old_kid, published["kid"]}
    status = kube.get("Storefront", namespace, "shop")["status"]
    assert status["activeKid"] == published["kid"]
