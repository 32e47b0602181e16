"""Shared helpers of the operator tests."""

from __future__ import annotations

from pathlib import Path

from storefront_harness.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "k8s" / "crds" / "storefronts.platform.storefront.dev.yaml"
PEERING_FILE = REPO / "k8s" / "crds" / "kopf-peering.yaml"


def storefront_body(name: str, **spec) -> dict:
    base = {
        "image": "example/storefront-api:1.0.0", "version": "1.0.0",
        "database": {"secretRef": {"name": f"{name}-db"}},
        "redis": {"mode": "standalone", "address": "redis:6379"},
    }
    base.update(spec)
    return {"apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
            "metadata": {"name": name}, "spec": base}


def create_storefront(kube, namespace: str, name: str = "shop", with_db_secret: bool = True, **spec) -> dict:
    import base64
    if with_db_secret:
        kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-db", "namespace": namespace},
                     "data": {"url": base64.b64encode(b"postgresql+asyncpg://u:p@db:5432/shop").decode()}})
    body = storefront_body(name, **spec)
    body["metadata"]["namespace"] = namespace
    return kube.create(body)


def condition(obj: dict, type_: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def complete_job(kube, namespace: str, name: str, revision: str | None = None) -> None:
    """Marks a Job succeeded through its status subresource, as a kubelet-less harness must.
    With ``revision``, its pod first reports that schema revision as a termination message."""
    from datetime import UTC, datetime
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if revision:
        terminate_job_pod(kube, namespace, name, 0, revision)
    # The Job controller may already have set startTime, which may not change afterwards.
    start = (kube.get("Job", namespace, name).get("status") or {}).get("startTime") or now
    kube.merge_patch("Job", namespace, name, {"status": {
        "startTime": start, "completionTime": now, "succeeded": 1, "active": 0, "ready": 0, "terminating": 0,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now}]}}, subresource="status")


def complete_plan(kube, namespace: str, name: str, plan: dict) -> None:
    """Marks a plan Job succeeded, its pod having reported ``plan`` (as `app.cli migrate --plan` does)."""
    import json
    complete_job(kube, namespace, name, revision=json.dumps(plan, separators=(",", ":")))


def terminate_job_pod(kube, namespace: str, job: str, exit_code: int, message: str) -> None:
    """Reports the Job's pod terminated with ``message`` in its termination log, as a kubelet would."""
    from datetime import UTC, datetime
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pods = wait_for(lambda: kube.list("Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job}"),
                    20, message=f"the pod of Job {job}")
    pod = pods[0]
    kube.merge_patch("Pod", namespace, pod["metadata"]["name"], {"status": {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "containerStatuses": [{"name": "migrate", "image": pod["spec"]["containers"][0]["image"], "imageID": "",
                               "ready": False, "restartCount": 0,
                               "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                                        "message": message, "startedAt": now, "finishedAt": now}}}]}},
        subresource="status")


def fail_job(kube, namespace: str, name: str, reason: str = "BackoffLimitExceeded",
             message: str = "Job has reached the specified backoff limit") -> None:
    from datetime import UTC, datetime
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = (kube.get("Job", namespace, name).get("status") or {}).get("startTime") or now
    kube.merge_patch("Job", namespace, name, {"status": {
        "startTime": start, "failed": 1, "active": 0, "ready": 0, "terminating": 0,
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": reason, "message": message,
             "lastProbeTime": now, "lastTransitionTime": now},
            {"type": "Failed", "status": "True", "reason": reason, "message": message,
             "lastProbeTime": now, "lastTransitionTime": now}]}}, subresource="status")


def make_deployment_available(kube, namespace: str, name: str, timeout: float = 60, with_worker: bool = True) -> None:
    """There are no nodes: mark the Deployment's pods Running and Ready through their status
    subresource, so the ReplicaSet and Deployment controllers report real availability. The
    Storefront's worker Deployment, when the operator built one, is made available too."""
    _make_available(kube, namespace, name, timeout)
    if with_worker and kube.get("Deployment", namespace, f"{name}-worker") is not None:
        _make_available(kube, namespace, f"{name}-worker", timeout)


def _make_available(kube, namespace: str, name: str, timeout: float) -> None:
    from datetime import UTC, datetime
    dep = kube.get("Deployment", namespace, name)
    # Deployments made by the first release selected every pod of the instance: narrow to the
    # pods of this Deployment's component.
    wanted = {**dep["spec"]["selector"]["matchLabels"]}
    component = dep["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
    if component:
        wanted["app.kubernetes.io/component"] = component
    selector = ",".join(f"{k}={v}" for k, v in wanted.items())

    def all_available() -> bool:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for pod in kube.list("Pod", namespace, label_selector=selector):
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])
            if not ready and not pod["metadata"].get("deletionTimestamp"):
                kube.merge_patch("Pod", namespace, pod["metadata"]["name"], {"status": {
                    "phase": "Running", "podIP": "10.1.0.1", "startTime": now,
                    "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                   for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]}},
                    subresource="status")
        current = kube.get("Deployment", namespace, name)
        status = current.get("status") or {}
        want = current["spec"].get("replicas", 1)
        return (status.get("observedGeneration") == current["metadata"]["generation"]
                and status.get("availableReplicas") == want and status.get("updatedReplicas") == want
                and status.get("replicas") == want)

    wait_for(all_available, timeout, interval=0.5, message=f"Deployment {name} to become available")
