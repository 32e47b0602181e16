"""Names, labels and metadata shared by every child."""

from __future__ import annotations

from typing import Any

from ..model import Storefront
from ..settings import MANAGED_BY

APP_PORT = 8000
APP_UID = 10001


def selector_labels(sf: Storefront) -> dict[str, str]:
    return {"app.kubernetes.io/name": "storefront", "app.kubernetes.io/instance": sf.name}


def api_selector_labels(sf: Storefront) -> dict[str, str]:
    """The API pods alone: the worker's and the migration Jobs' pods carry the instance labels
    too, and a disruption budget or HPA over them would count pods it cannot scale."""
    return {**selector_labels(sf), "app.kubernetes.io/component": "api"}


def labels(sf: Storefront, component: str = "api") -> dict[str, str]:
    return {**selector_labels(sf), "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "storefront", "app.kubernetes.io/managed-by": MANAGED_BY}


def metadata(sf: Storefront, name: str, component: str = "api", owned: bool = True, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": sf.namespace, "labels": labels(sf, component)}
    if owned:
        meta["ownerReferences"] = [sf.owner_reference()]
    meta.update(extra)
    return meta


def owned_by(obj: dict[str, Any], owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or [])


def config_name(sf: Storefront) -> str:
    return f"{sf.name}-config"


def redis_config_name(sf: Storefront) -> str:
    return f"{sf.name}-redis"


def app_secrets_name(sf: Storefront) -> str:
    return f"{sf.name}-app-secrets"


def restricted_pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": APP_UID, "runAsGroup": APP_UID, "fsGroup": APP_UID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def restricted_container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}}
