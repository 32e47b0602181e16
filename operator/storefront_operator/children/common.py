"""The full set of desired children for one reconcile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import Storefront
from .config import app_config, app_config_data, config_hash, redis_config
from .network import ingress, network_policy, service
from .scaling import hpa, pdb
from .worker import worker_deployment, worker_hpa, worker_name, worker_network_policy, worker_pdb
from .workload import deployment, service_account


@dataclass(frozen=True)
class Optional:
    """A child that exists only when its part of the spec asks for it; removed otherwise."""
    kind: str
    name: str
    wanted: bool


def optional_children(sf: Storefront) -> list[Optional]:
    worker = sf.spec.worker
    return [
        Optional("Ingress", sf.name, sf.spec.ingress is not None),
        Optional("HorizontalPodAutoscaler", sf.name, sf.spec.autoscaling is not None),
        Optional("Deployment", worker_name(sf), worker.enabled),
        Optional("HorizontalPodAutoscaler", worker_name(sf),
                 worker.enabled and worker.autoscaling is not None and worker.autoscaling.metric != "KEDA"),
        Optional("PodDisruptionBudget", worker_name(sf), worker.enabled),
        Optional("NetworkPolicy", worker_name(sf), worker.enabled),
    ]


def desired_children(sf: Storefront, image: str | None, version: str | None, cluster_nodes: list[str]) -> list[dict[str, Any]]:
    """Everything the Storefront should own. ``image``/``version`` are what may run (migrated);
    without them (first install, migration pending) no Deployment is built yet."""
    deployed_version = version or ""
    children = [
        service_account(sf),
        app_config(sf, deployed_version),
        redis_config(sf, cluster_nodes),
        service(sf),
        pdb(sf),
        network_policy(sf),
        *(obj for obj in (ingress(sf), hpa(sf), worker_hpa(sf), worker_pdb(sf), worker_network_policy(sf)) if obj is not None),
    ]
    if image and version:
        settings_hash = config_hash(app_config_data(sf, deployed_version))
        children.append(deployment(sf, image, version, settings_hash))
        worker = worker_deployment(sf, image, version, settings_hash)
        if worker is not None:
            children.append(worker)
    return children
