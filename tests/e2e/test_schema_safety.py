"""Migration safety on the real node: a version whose migration drops a column is held for
approval while the old version keeps serving; approving it in the spec completes the rollout;
its post-deployment revision runs only once no pod of the old version remains.

A second Storefront (one replica) with a database of its own on the platform's PostgreSQL, so
the platform's schema stays at the repository's head for the other tests.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from e2e_support import E2E, Platform
from load import Load

from storefront_harness.platform import LOCAL_TAG

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXPAND_IMAGE = f"storefront-app:{LOCAL_TAG}-schema-expand"
CONTRACT_IMAGE = f"storefront-app:{LOCAL_TAG}-schema-contract"
NAME = "schema"
DATABASE = "sf_schema"


@pytest.fixture(scope="module")
def schema_storefront(e2e: E2E, platform: Platform) -> Iterator[Platform]:
    """Installed at the expand version (a first install: migrated to its head at once)."""
    ns = platform.namespace
    base = e2e.get("storefront", platform.name, "-n", ns)
    db_ref = base["spec"]["database"]["secretRef"]
    secret = e2e.get("secret", db_ref["name"], "-n", ns)
    url = base64.b64decode(secret["data"][db_ref.get("key", "url")]).decode()
    user = url.split("://", 1)[1].split(":", 1)[0]
    [pg] = [p["metadata"]["name"] for p in e2e.items("pods", "-n", ns, "-l", "app.kubernetes.io/component=postgresql")]
    e2e.kubectl("exec", "-n", ns, pg, "--", "psql", "-U", user, "-d", url.rsplit("/", 1)[1], "-v", "ON_ERROR_STOP=1",
                "-c", f"DROP DATABASE IF EXISTS {DATABASE}", "-c", f"CREATE DATABASE {DATABASE}")
    e2e.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{NAME}-db", "namespace": ns},
        "stringData": {"url": url.rsplit("/", 1)[0] + f"/{DATABASE}"}}))
    spec = {k: v for k, v in base["spec"].items() if k not in ("autoscaling", "ingress")}
    spec.update(image=EXPAND_IMAGE, version="0.4.0-expand", replicas=1,
                database={"secretRef": {"name": f"{NAME}-db", "key": "url"}})
    e2e.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
        "metadata": {"name": NAME, "namespace": ns}, "spec": spec}))
    e2e.wait_condition(ns, NAME, "Ready", timeout=420)
    try:
        yield Platform(ns, NAME)
    finally:
        e2e.kubectl("delete", "storefront", NAME, "-n", ns, "--wait=true", "--timeout=180s", check=False)
        e2e.kubectl("delete", "secret", f"{NAME}-db", f"{NAME}-app-secrets", "-n", ns, "--ignore-not-found", check=False)
        e2e.wait(lambda: not e2e.items("pods", "-n", ns, "-l", f"app.kubernetes.io/instance={NAME},"
                                       "app.kubernetes.io/managed-by=storefront-operator"),
                 "the schema Storefront's pods gone", timeout=180, namespace=ns)
        e2e.kubectl("exec", "-n", ns, pg, "--", "psql", "-U", user, "-d", url.rsplit("/", 1)[1],
                    "-c", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", check=False)


def _api_images(e2e: E2E, sf: Platform) -> set[str]:
    pods = e2e.items("pods", "-n", sf.namespace, "-l", f"app.kubernetes.io/instance={sf.name},app.kubernetes.io/component=api")
    return {p["spec"]["containers"][0]["image"] for p in pods}


def _jobs(e2e: E2E, sf: Platform, word: str) -> list[str]:
    return [j["metadata"]["name"] for j in e2e.items("jobs", "-n", sf.namespace, "-l", f"app.kubernetes.io/instance={sf.name}")
            if f"-{word}-" in j["metadata"]["name"]]


def test_a_dropped_column_waits_for_approval_and_the_contract_step_for_the_rollout(
        e2e: E2E, schema_storefront: Platform) -> None:
    sf, ns = schema_storefront, schema_storefront.namespace
    with e2e.client(ns, sf.name) as client:
        assert client.get("/version").json()["schema_revision"] == "0005_e2e_add_columns"

    with Load(e2e.service_url(ns, sf.name), per_second=4) as load:
        e2e.kubectl("patch", "storefront", sf.name, "-n", ns, "--type=merge",
                    "-p", json.dumps({"spec": {"image": CONTRACT_IMAGE, "version": "0.5.0-contract"}}))
        held = e2e.wait_condition(ns, sf.name, "Progressing", "False", reason="MigrationNeedsApproval", timeout=240)
        # Exactly which revision and operation; the post-deployment drop needs no approval.
        assert "0006_e2e_drop_note (destructive: drop column products.e2e_note)" in held["message"], held
        assert "0007_e2e_drop_legacy_later" not in held["message"], held
        table = e2e.kubectl("get", "sf", sf.name, "-n", ns).stdout
        assert "MigrationNeedsApproval" in table, table
        events = e2e.items("events", "-n", ns, "--field-selector", f"reason=MigrationNeedsApproval,involvedObject.name={sf.name}")
        assert events and events[0]["type"] == "Warning" and "0006_e2e_drop_note" in events[0]["message"]
        plan = json.loads(e2e.get("configmap", f"{sf.name}-migration-plan", "-n", ns)["data"]["plan.json"])
        assert [r["revision"] for r in plan["revisions"]] == ["0006_e2e_drop_note", "0007_e2e_drop_legacy_later"]
        # Held: nothing ran, the old version serves.
        assert not _jobs(e2e, sf, "migrate") and _api_images(e2e, sf) == {EXPAND_IMAGE}
        with e2e.client(ns, sf.name) as client:
            assert client.get("/version").json()["schema_revision"] == "0005_e2e_add_columns"
        status = e2e.get("storefront", sf.name, "-n", ns)["status"]
        assert status["version"] == "0.4.0-expand" and status["migration"]["phase"] == "Plan"

        # Approving is the only action.
        e2e.kubectl("patch", "storefront", sf.name, "-n", ns, "--type=merge",
                    "-p", json.dumps({"spec": {"migrations": {"approvedRevisions": ["0006_e2e_drop_note"]}}}))
        # Watch the rollout: the post-deployment Job never exists while an old pod does (Jobs
        # listed before pods, so an old pod seen after the Job was seen coexisted with it).
        overlaps: list[str] = []

        def contract_done() -> bool:
            post_jobs = _jobs(e2e, sf, "postmig")
            images = _api_images(e2e, sf)
            if post_jobs and EXPAND_IMAGE in images:
                overlaps.append(f"{post_jobs} while pods of {images} exist")
            status = (e2e.get("storefront", sf.name, "-n", ns) or {}).get("status") or {}
            return status.get("schemaRevision") == "0007_e2e_drop_legacy_later" and \
                (status.get("migration") or {}).get("phase") == "Done"
        started = time.monotonic()
        e2e.wait(contract_done, "the rollout and the post-deployment revision", timeout=420, interval=0.5, namespace=ns)
        assert not overlaps, overlaps
        assert _api_images(e2e, sf) == {CONTRACT_IMAGE}
        e2e.wait_condition(ns, sf.name, "Ready", timeout=120)
        print(f"approval to contract done: {time.monotonic() - started:.0f} s")
    assert not load.failures and load.ok > 0, load.summary()

    reasons = [e["reason"] for e in sorted(e2e.items("events", "-n", ns, "--field-selector", f"involvedObject.name={sf.name}"),
                                           key=lambda e: e.get("firstTimestamp") or "")]
    assert "PostDeploymentMigrationSucceeded" in reasons
    with e2e.client(ns, sf.name) as client:
        assert client.get("/version").json()["schema_revision"] == "0007_e2e_drop_legacy_later"
