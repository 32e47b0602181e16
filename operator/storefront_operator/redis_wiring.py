"""The Redis step of a reconcile: find the nodes through the API, wire them, report RedisReady."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from . import metrics
from .kube import Kube
from .model import SpecError, Storefront
from .redis_cluster import wire_cluster
from .settings import Settings


@dataclass
class RedisResult:
    ready: bool
    reason: str
    message: str
    nodes: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


def discover(kube: Kube, sf: Storefront) -> list[str]:
    """ip:port of every Redis node: the endpoints of the named Service (ready or not, since a
    node outside a cluster may not pass its readiness check yet) or the running pods of the
    selector. A port named ``redis`` (on the EndpointSlice or the pod's container) wins over
    ``spec.redis.nodes.port``."""
    redis = sf.spec.redis
    found: set[str] = set()
    if redis.service_name:
        slices = kube.list("EndpointSlice", sf.namespace, label_selector=f"kubernetes.io/service-name={redis.service_name}")
        for sl in slices:
            port = _named_port(sl.get("ports") or [], redis.port)
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("terminating"):
                    continue
                found.update(f"{ip}:{port}" for ip in ep.get("addresses") or [])
    else:
        selector = ",".join(f"{k}={v}" for k, v in sorted((redis.selector or {}).items()))
        for pod in kube.list("Pod", sf.namespace, label_selector=selector):
            status = pod.get("status") or {}
            if pod["metadata"].get("deletionTimestamp") or status.get("phase") != "Running" or not status.get("podIP"):
                continue
            ports = [p for c in pod["spec"].get("containers") or [] for p in c.get("ports") or []]
            port = _named_port([{"name": p.get("name"), "port": p.get("containerPort")} for p in ports], redis.port)
            found.add(f"{status['podIP']}:{port}")
    return sorted(found)


def _named_port(ports: list[dict], default: int) -> int:
    for port in ports:
        if port.get("name") == "redis" and port.get("port"):
            return int(port["port"])
    return default


def read_secret_value(kube: Kube, namespace: str, name: str, key: str) -> str:
    secret = kube.get("Secret", namespace, name)
    if secret is None:
        raise SpecError("SecretNotFound", f"Secret {name} does not exist")
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        raise SpecError("SecretKeyMissing", f"Secret {name} has no key {key}")
    return base64.b64decode(raw).decode()


def reconcile_redis(kube: Kube, sf: Storefront, settings: Settings) -> RedisResult:
    redis = sf.spec.redis
    if redis.mode == "standalone":
        return RedisResult(True, "Standalone", f"the app uses the standalone Redis at {redis.address}")
    try:
        password = (read_secret_value(kube, sf.namespace, redis.secret_ref.name, redis.secret_ref.key)
                    if redis.secret_ref else None)
    except SpecError as exc:
        return RedisResult(False, exc.reason, str(exc))
    addresses = discover(kube, sf)
    if not addresses:
        where = f"Service {redis.service_name}" if redis.service_name else f"pods matching {redis.selector}"
        return RedisResult(False, "NoNodes", f"no Redis nodes found through {where}")
    masters_needed = 1 + redis.replicas_per_master
    if len(addresses) < 3 * masters_needed:
        # Keep waiting for nodes rather than form a cluster of the wrong shape.
        return RedisResult(False, "TooFewNodes", f"{len(addresses)} nodes found, replicasPerMaster={redis.replicas_per_master} "
                                                 f"needs at least {3 * masters_needed}", nodes=addresses)
    report = wire_cluster(addresses, redis.replicas_per_master, password, timeout=settings.redis_timeout_seconds)
    for kind in report.kinds:
        metrics.REDIS_WIRING.labels(kind).inc()
    nodes = report.nodes or addresses
    if report.ok and not report.unreachable:
        return RedisResult(True, "ClusterOK", report.message, nodes=nodes, actions=report.actions)
    if report.ok:
        return RedisResult(True, "ClusterOKNodesUnreachable",
                           f"{report.message}; unreachable: {', '.join(report.unreachable)}", nodes=nodes, actions=report.actions)
    return RedisResult(False, "ClusterNotOK", report.message or f"cluster_state:{report.state}", nodes=nodes, actions=report.actions)
