"""A stand-in for the kubelet on a control plane without nodes.

The harness's API server and controller manager create Pods that nothing runs. This thread
plays the kubelet's part through the Pod status subresource: pods of a Deployment become
Running and Ready (so the ReplicaSet and Deployment controllers report real availability);
pods of a Job end Succeeded with the schema revision as termination message, as
``app.cli migrate`` writes it, or Failed for instances listed as broken (so the Job controller
marks the Job failed). Everything above the kubelet is the real thing.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

JOB_LABEL = "batch.kubernetes.io/job-name"
INSTANCE_LABEL = "app.kubernetes.io/instance"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedKubelet(threading.Thread):
    def __init__(self, kube: Any, revision: str = "head", interval: float = 0.2):
        super().__init__(name="simulated-kubelet", daemon=True)
        self.kube = kube
        self.revision = revision
        self.interval = interval
        self.namespaces: set[str] = set()
        self.broken_instances: set[tuple[str, str]] = set()  # (namespace, instance): their migration pods fail
        self.patched = 0
        self.errors = 0
        self._halt = threading.Event()

    def watch(self, namespace: str) -> None:
        self.namespaces.add(namespace)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            for namespace in list(self.namespaces):
                try:
                    for pod in self.kube.list("Pod", namespace):
                        self._handle(namespace, pod)
                except Exception:  # noqa: BLE001 - a namespace being deleted, a conflict: next round
                    self.errors += 1

    def _handle(self, namespace: str, pod: dict[str, Any]) -> None:
        meta, status = pod["metadata"], pod.get("status") or {}
        if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            return
        labels = meta.get("labels") or {}
        if JOB_LABEL in labels:
            broken = (namespace, labels.get(INSTANCE_LABEL)) in self.broken_instances
            patch = self._finished(pod, failed=broken)
        elif any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []):
            return
        else:
            patch = self._running(pod)
        self.kube.merge_patch("Pod", namespace, meta["name"], {"status": patch}, subresource="status")
        self.patched += 1

    def _running(self, pod: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        return {"phase": "Running", "podIP": "10.1.0.1", "startTime": now,
                "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                               for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]}

    def _finished(self, pod: dict[str, Any], failed: bool) -> dict[str, Any]:
        now = _now()
        container = pod["spec"]["containers"][0]
        terminated = ({"exitCode": 1, "reason": "Error", "message": "alembic: relation already exists"} if failed
                      else {"exitCode": 0, "reason": "Completed", "message": self.revision})
        return {"phase": "Failed" if failed else "Succeeded", "startTime": now,
                "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "",
                                       "ready": False, "restartCount": 0,
                                       "state": {"terminated": {**terminated, "startedAt": now, "finishedAt": now}}}]}
