"""The full set of desired children for one reconcile."""

from __future__ import annotations

from typing import Any

from ..model import Storefront
from .config import app_config, app_config_data, config_hash, redis_config
from .network import ingress, network_policy, service
from .scaling import hpa, pdb
from .workload import deployment, service_account

# Children that exist only when their part of the spec is set; removed otherwise.
OPTIONAL = {"Ingress": ingress, "HorizontalPodAutoscaler": hpa}


def optional_kinds() -> list[str]:
    return list(OPTIONAL)


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
    ]
    for build in OPTIONAL.values():
        obj = build(sf)
        if obj is not None:
            children.append(obj)
    if image and version:
        children.append(deployment(sf, image, version, config_hash(app_config_data(sf, deployed_version))))
    return children
