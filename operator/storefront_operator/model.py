"""The Storefront spec as typed values, with the CRD's defaults applied and durations parsed.

Builders and timelines take these values, never raw dicts, so a missing field is handled once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .settings import GROUP, KIND, VERSION

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|m|s)")
_UNIT = {"h": 3600, "m": 60, "s": 1}
# Longer than a Secret update takes to reach every pod with the kubelet's defaults: the pod
# sync period (1m) plus its jitter (up to 30 s), plus the app's keyset poll (docs/operator.md).
DEFAULT_PROPAGATION_DELAY = "120s"


class SpecError(ValueError):
    """A spec the CRD schema accepted but the operator cannot act on."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def parse_duration(value: str | int | float, what: str) -> timedelta:
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    text = str(value).strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SpecError("InvalidDuration", f"{what}: {value!r} is not a duration like 90s, 15m or 720h")
    return timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str

    @classmethod
    def parse(cls, raw: dict[str, Any] | None, default_key: str) -> SecretRef | None:
        if not raw:
            return None
        return cls(name=raw["name"], key=raw.get("key") or default_key)


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_cpu: int


@dataclass(frozen=True)
class RedisSpec:
    mode: str
    address: str | None
    service_name: str | None
    selector: dict[str, str] | None
    port: int
    replicas_per_master: int
    secret_ref: SecretRef | None


@dataclass(frozen=True)
class JwtSpec:
    algorithm: str
    rotation_interval: timedelta
    access_token_ttl: timedelta
    propagation_delay: timedelta


@dataclass(frozen=True)
class MigrationsSpec:
    enabled: bool
    timeout_seconds: int
    backoff_limit: int
    policy: str = "Refuse"  # Refuse, RequireApproval or Allow (migration_policy.py)
    approved_revisions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WorkerAutoscaling:
    min_replicas: int
    max_replicas: int
    metric: str  # "CPU", "QueueLag" (an external metric served by a metrics adapter) or "KEDA" (no HPA)
    target_cpu: int
    target_lag_per_replica: int


@dataclass(frozen=True)
class WorkerSpec:
    enabled: bool
    replicas: int
    autoscaling: WorkerAutoscaling | None
    resources: dict[str, Any]


DEFAULT_WORKER_RESOURCES = {"requests": {"cpu": "50m", "memory": "192Mi"}, "limits": {"cpu": "500m", "memory": "384Mi"}}


@dataclass(frozen=True)
class IngressSpec:
    host: str
    tls_secret_name: str | None
    class_name: str | None


@dataclass(frozen=True)
class ObservabilitySpec:
    """Where the app and worker send their traces; no endpoint = tracing off in the pods."""

    otlp_endpoint: str | None = None
    sampling_ratio: float | None = None


@dataclass(frozen=True)
class StorefrontSpec:
    image: str
    version: str
    replicas: int
    autoscaling: Autoscaling | None
    database: SecretRef
    read_replica: SecretRef | None
    redis: RedisSpec
    jwt: JwtSpec
    migrations: MigrationsSpec
    ingress: IngressSpec | None
    worker: WorkerSpec
    resources: dict[str, Any]
    env: list[dict[str, Any]]
    pause: bool
    observability: ObservabilitySpec = ObservabilitySpec()

    @property
    def target(self) -> str:
        """What a migration is run for: the pair that, when changed, must migrate first."""
        return f"{self.image}|{self.version}"


@dataclass(frozen=True)
class Storefront:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: StorefrontSpec
    annotations: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Storefront:
        meta = body["metadata"]
        return cls(
            name=meta["name"], namespace=meta["namespace"], uid=meta["uid"], generation=int(meta.get("generation", 1)),
            spec=parse_spec(body.get("spec") or {}), annotations=dict(meta.get("annotations") or {}),
            status=dict(body.get("status") or {}),
        )

    def owner_reference(self) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}


def _require(raw: dict[str, Any], key: str, where: str) -> Any:
    if raw.get(key) in (None, ""):
        raise SpecError("MissingField", f"{where}.{key} is required")
    return raw[key]


def parse_spec(raw: dict[str, Any]) -> StorefrontSpec:
    auto = raw.get("autoscaling")
    autoscaling = None
    if auto:
        autoscaling = Autoscaling(int(auto.get("minReplicas", 2)), int(_require(auto, "maxReplicas", "spec.autoscaling")),
                                  int(auto.get("targetCPUUtilizationPercentage", 70)))
        if autoscaling.min_replicas > autoscaling.max_replicas:
            raise SpecError("InvalidAutoscaling", "spec.autoscaling.minReplicas must not exceed maxReplicas")
    db = _require(raw, "database", "spec")
    redis_raw = _require(raw, "redis", "spec")
    nodes = redis_raw.get("nodes") or {}
    redis = RedisSpec(
        mode=redis_raw.get("mode", "standalone"), address=redis_raw.get("address"),
        service_name=nodes.get("serviceName"), selector=nodes.get("selector"), port=int(nodes.get("port", 6379)),
        replicas_per_master=int(redis_raw.get("replicasPerMaster", 0)),
        secret_ref=SecretRef.parse(redis_raw.get("secretRef"), "password"),
    )
    if redis.mode == "standalone" and not redis.address:
        raise SpecError("MissingField", "spec.redis.address is required in standalone mode")
    if redis.mode == "cluster" and not (redis.service_name or redis.selector):
        raise SpecError("MissingField", "spec.redis.nodes needs serviceName or selector in cluster mode")
    if redis.mode not in ("standalone", "cluster"):
        raise SpecError("InvalidRedisMode", f"spec.redis.mode {redis.mode!r} is not standalone or cluster")
    jwt_raw = raw.get("jwt") or {}
    jwt = JwtSpec(
        algorithm=jwt_raw.get("algorithm", "EdDSA"),
        rotation_interval=parse_duration(jwt_raw.get("rotationInterval", "720h"), "spec.jwt.rotationInterval"),
        access_token_ttl=parse_duration(jwt_raw.get("accessTokenTTL", "15m"), "spec.jwt.accessTokenTTL"),
        propagation_delay=parse_duration(jwt_raw.get("propagationDelay", DEFAULT_PROPAGATION_DELAY), "spec.jwt.propagationDelay"),
    )
    mig = raw.get("migrations") or {}
    worker = parse_worker(raw.get("worker") or {})
    ingress_raw = raw.get("ingress")
    return StorefrontSpec(
        image=_require(raw, "image", "spec"), version=str(_require(raw, "version", "spec")),
        replicas=int(raw.get("replicas", 2)), autoscaling=autoscaling,
        database=SecretRef.parse(_require(db, "secretRef", "spec.database"), "url"),
        read_replica=SecretRef.parse(db.get("readReplicaSecretRef"), "url"),
        redis=redis, jwt=jwt,
        migrations=MigrationsSpec(bool(mig.get("enabled", True)), int(mig.get("timeoutSeconds", 600)), int(mig.get("backoffLimit", 2)),
                                  policy=str(mig.get("policy", "Refuse")),
                                  approved_revisions=frozenset(str(r) for r in mig.get("approvedRevisions") or [])),
        ingress=IngressSpec(ingress_raw["host"], ingress_raw.get("tlsSecretName"), ingress_raw.get("className")) if ingress_raw else None,
        worker=worker,
        resources=raw.get("resources") or {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        env=list(raw.get("env") or []), pause=bool(raw.get("pause", False)),
        observability=_observability(raw.get("observability") or {}),
    )


def _observability(raw: dict[str, Any]) -> ObservabilitySpec:
    ratio = raw.get("samplingRatio")
    if ratio is not None and not 0 <= float(ratio) <= 1:
        raise SpecError("InvalidSamplingRatio", f"spec.observability.samplingRatio {ratio!r} is not between 0 and 1")
    return ObservabilitySpec(otlp_endpoint=raw.get("otlpEndpoint") or None,
                             sampling_ratio=None if ratio is None else float(ratio))


def parse_worker(raw: dict[str, Any]) -> WorkerSpec:
    auto = raw.get("autoscaling")
    autoscaling = None
    if auto:
        metric = str(auto.get("metric", "CPU"))
        # A KEDA ScaledObject carries its own bounds; an HPA needs the ceiling.
        ceiling = auto.get("maxReplicas", 100) if metric == "KEDA" else _require(auto, "maxReplicas", "spec.worker.autoscaling")
        autoscaling = WorkerAutoscaling(
            int(auto.get("minReplicas", 1)), int(ceiling), metric, int(auto.get("targetCPUUtilizationPercentage", 70)),
            int(auto.get("targetQueueLagPerReplica", 100)))
        if autoscaling.min_replicas > autoscaling.max_replicas:
            raise SpecError("InvalidAutoscaling", "spec.worker.autoscaling.minReplicas must not exceed maxReplicas")
        if autoscaling.metric not in ("CPU", "QueueLag", "KEDA"):
            raise SpecError("InvalidAutoscaling",
                            f"spec.worker.autoscaling.metric {autoscaling.metric!r} is not CPU, QueueLag or KEDA")
    return WorkerSpec(enabled=bool(raw.get("enabled", True)), replicas=int(raw.get("replicas", 1)), autoscaling=autoscaling,
                      resources=raw.get("resources") or DEFAULT_WORKER_RESOURCES)
