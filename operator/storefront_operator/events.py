"""Kubernetes Events about a Storefront. Repeats of the same event bump its count instead of
piling up new objects, so a failure reported on every resync does not flood the namespace."""

from __future__ import annotations

import hashlib
import logging

from .keys import stamp
from .kube import Kube, KubeError
from .model import Storefront
from .settings import GROUP, KIND, MANAGED_BY, VERSION
from .status import utcnow

log = logging.getLogger("storefront_operator.events")


def post(kube: Kube, sf: Storefront, reason: str, message: str, warning: bool = False) -> None:
    now = stamp(utcnow())
    digest = hashlib.sha256(f"{sf.uid}|{reason}|{message}".encode()).hexdigest()[:12]
    name = f"{sf.name[:200]}.{digest}"
    try:
        existing = kube.get("Event", sf.namespace, name)
        if existing is not None:
            kube.merge_patch("Event", sf.namespace, name, {"count": int(existing.get("count") or 1) + 1, "lastTimestamp": now})
            return
        kube.create({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": sf.namespace},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": sf.name,
                               "namespace": sf.namespace, "uid": sf.uid},
            "reason": reason, "message": message[:1024], "type": "Warning" if warning else "Normal",
            "source": {"component": MANAGED_BY}, "reportingComponent": MANAGED_BY,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        })
    except KubeError as exc:
        # An event is a courtesy; failing to post one must not fail the reconcile.
        log.warning("could not post event %s for %s/%s: %s", reason, sf.namespace, sf.name, exc)
