"""HorizontalPodAutoscaler and PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from ..model import Storefront
from .meta import api_selector_labels, metadata


def hpa(sf: Storefront) -> dict[str, Any] | None:
    auto = sf.spec.autoscaling
    if auto is None:
        return None
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": metadata(sf, sf.name),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": sf.name},
                     "minReplicas": auto.min_replicas, "maxReplicas": auto.max_replicas,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": auto.target_cpu}}}]}}


def pdb(sf: Storefront) -> dict[str, Any]:
    # maxUnavailable (not minAvailable) so a single-replica Storefront never blocks a node drain.
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata(sf, sf.name),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": api_selector_labels(sf)}}}
