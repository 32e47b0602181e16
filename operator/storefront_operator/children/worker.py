"""The queue worker (``python -m app.worker``): Deployment, HPA, PDB and NetworkPolicy.

Same image and version as the API, taken from the same migration gate, so a worker never runs
code the schema does not match. The worker serves no clients: its only port is for probes and
Prometheus, and it needs no signing keys.
"""

from __future__ import annotations

from typing import Any

from ..model import Storefront
from .meta import (
    config_name,
    labels,
    metadata,
    redis_config_name,
    restricted_container_security,
    selector_labels,
)
from .workload import app_env, http_probes, rolling_deployment

WORKER_PORT = 8081
COMPONENT = "worker"
# The worker stops reading at SIGTERM and has 30 s to finish what it holds; the rest of the
# grace period covers its last acknowledgement and exit.
GRACE_SECONDS = 45
QUEUE_LAG_METRIC = "storefront_queue_lag"


def worker_name(sf: Storefront) -> str:
    return f"{sf.name}-worker"


def worker_selector_labels(sf: Storefront) -> dict[str, str]:
    return {**selector_labels(sf), "app.kubernetes.io/component": COMPONENT}


def _meta(sf: Storefront, **extra: Any) -> dict[str, Any]:
    return metadata(sf, worker_name(sf), component=COMPONENT, **extra)


def worker_deployment(sf: Storefront, image: str, version: str, config_hash: str) -> dict[str, Any] | None:
    worker = sf.spec.worker
    if not worker.enabled:
        return None
    pod_labels = {**labels(sf, COMPONENT), "app.kubernetes.io/version": version[:63]}
    body = rolling_deployment(sf, _meta(sf, labels=pod_labels), worker_selector_labels(sf), pod_labels, config_hash,
                              grace_seconds=GRACE_SECONDS)
    body["spec"]["template"]["spec"].update({
                    "containers": [{
                        "name": COMPONENT, "image": image, "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "app.worker"],
                        "ports": [{"name": "http", "containerPort": WORKER_PORT, "protocol": "TCP"}],
                        "envFrom": [{"configMapRef": {"name": config_name(sf)}},
                                    {"configMapRef": {"name": redis_config_name(sf)}}],
                        "env": [*app_env(sf), {"name": "STOREFRONT_WORKER_PORT", "value": str(WORKER_PORT)}],
                        **http_probes(),
                        "resources": worker.resources,
                        "securityContext": restricted_container_security(),
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir: the root is read-only
                    }],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    })
    if worker.autoscaling is None:
        body["spec"]["replicas"] = worker.replicas
    return body


def worker_hpa(sf: Storefront) -> dict[str, Any] | None:
    worker = sf.spec.worker
    auto = worker.autoscaling
    if not worker.enabled or auto is None or auto.metric == "KEDA":
        return None  # KEDA: the ScaledObject's own HPA owns the count
    if auto.metric == "QueueLag":
        # Served by a metrics adapter (e.g. prometheus-adapter) from the workers' own gauge;
        # AverageValue divides the lag over the current replicas (docs/operator.md).
        metric = {"type": "External", "external": {
            "metric": {"name": QUEUE_LAG_METRIC, "selector": {"matchLabels": {"storefront": sf.name}}},
            "target": {"type": "AverageValue", "averageValue": str(auto.target_lag_per_replica)}}}
    else:
        metric = {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": auto.target_cpu}}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(sf),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": worker_name(sf)},
                     "minReplicas": auto.min_replicas, "maxReplicas": auto.max_replicas, "metrics": [metric]}}


def worker_pdb(sf: Storefront) -> dict[str, Any] | None:
    if not sf.spec.worker.enabled:
        return None
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(sf),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": worker_selector_labels(sf)}}}


def worker_network_policy(sf: Storefront) -> dict[str, Any] | None:
    # Only the probe/metrics port is reachable. Egress stays open: webhook receivers are
    # anywhere on the internet, and the worker refuses private targets itself (SSRF guard).
    if not sf.spec.worker.enabled:
        return None
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(sf),
            "spec": {"podSelector": {"matchLabels": worker_selector_labels(sf)}, "policyTypes": ["Ingress"],
                     "ingress": [{"ports": [{"protocol": "TCP", "port": WORKER_PORT}]}]}}
