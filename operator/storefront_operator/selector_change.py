"""A Deployment's selector is immutable. When a release narrows it (the API Deployment's first
selector also matched the worker's and the migration Jobs' pods, so `kubectl logs deploy/NAME`
could land on a worker and the HPA averaged the worker's CPU in), the Deployment is deleted with
its ReplicaSets orphaned and created again. The new one adopts the ReplicaSet whose pod template
it still has: no pod restarts and the Service, which already selects the API pods alone, never
loses an endpoint."""

from __future__ import annotations

import logging
import time
from typing import Any

from .children.meta import owned_by
from .kube import Kube

log = logging.getLogger(__name__)

# The garbage collector releases the ReplicaSets and drops the orphan finalizer within a second
# or two; beyond this the next reconcile tries again rather than holding this one.
RELEASE_TIMEOUT_SECONDS = 15.0


def selector_outdated(existing: dict[str, Any] | None, desired: dict[str, Any], owner_uid: str) -> bool:
    """Only a Deployment this Storefront owns is ever replaced; another's is left to fail the apply."""
    if existing is None:
        return False
    return owned_by(existing, owner_uid) and existing["spec"].get("selector") != desired["spec"].get("selector")


def release_for_new_selector(kube: Kube, desired: dict[str, Any], owner_uid: str,
                             timeout: float = RELEASE_TIMEOUT_SECONDS) -> bool | None:
    """None when nothing had to change; True once the old Deployment is gone (its pods kept),
    so `desired` can be applied; False if it is still being released when the time is up."""
    namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    existing = kube.get("Deployment", namespace, name)
    if not selector_outdated(existing, desired, owner_uid):
        return None
    assert existing is not None
    if not existing["metadata"].get("deletionTimestamp"):
        log.info("replacing Deployment %s/%s: selector %s -> %s, its ReplicaSets kept", namespace, name,
                 existing["spec"].get("selector"), desired["spec"].get("selector"))
        kube.delete("Deployment", namespace, name, propagation="Orphan")
    deadline = time.monotonic() + timeout
    while True:
        current = kube.get("Deployment", namespace, name)
        if current is None or current["metadata"].get("uid") != existing["metadata"].get("uid"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
