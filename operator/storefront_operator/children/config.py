"""ConfigMaps: the app's settings, and the Redis handover the operator keeps current."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..keys import KEYSET_FILE, MOUNT_DIR
from ..model import Storefront
from .meta import config_name, metadata, redis_config_name


def app_config_data(sf: Storefront, deployed_version: str) -> dict[str, str]:
    return {
        "STOREFRONT_JWT_KEYSET_FILE": f"{MOUNT_DIR}/{KEYSET_FILE}",
        "STOREFRONT_JWT_ISSUER": "storefront",
        "STOREFRONT_JWT_AUDIENCE": "storefront-api",
        "STOREFRONT_ACCESS_TOKEN_TTL_SECONDS": str(int(sf.spec.jwt.access_token_ttl.total_seconds())),
        "STOREFRONT_VERSION": deployed_version,
        **observability_config_data(sf),
    }


def observability_config_data(sf: Storefront) -> dict[str, str]:
    """Tracing settings for every pod reading this ConfigMap (app and worker); none when off."""
    obs = sf.spec.observability
    if not obs.otlp_endpoint:
        return {}
    data = {"STOREFRONT_OTLP_ENDPOINT": obs.otlp_endpoint}
    if obs.sampling_ratio is not None:
        data["STOREFRONT_TRACE_SAMPLING_RATIO"] = repr(obs.sampling_ratio)
    return data


def app_config(sf: Storefront, deployed_version: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(sf, config_name(sf)),
            "data": app_config_data(sf, deployed_version)}


def redis_config_data(sf: Storefront, cluster_nodes: list[str]) -> dict[str, str]:
    redis = sf.spec.redis
    if redis.mode == "standalone":
        return {"STOREFRONT_REDIS_MODE": "standalone", "STOREFRONT_REDIS_URL": f"redis://{redis.address}/0"}
    return {"STOREFRONT_REDIS_MODE": "cluster", "STOREFRONT_REDIS_CLUSTER_NODES": ",".join(cluster_nodes)}


def redis_config(sf: Storefront, cluster_nodes: list[str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(sf, redis_config_name(sf), component="redis-wiring"),
            "data": redis_config_data(sf, cluster_nodes)}


def config_hash(*datas: dict[str, str]) -> str:
    """Pod-template annotation: a settings change rolls the pods, since env is read at start."""
    return hashlib.sha256(json.dumps(datas, sort_keys=True).encode()).hexdigest()[:16]
