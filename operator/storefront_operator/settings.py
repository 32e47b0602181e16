"""Operator settings, read from the environment (``STOREFRONT_OPERATOR_*``).

Every interval is configurable so tests can compress the timelines to seconds.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

GROUP = "platform.storefront.dev"
VERSION = "v1alpha1"
PLURAL = "storefronts"
KIND = "Storefront"
FIELD_MANAGER = "storefront-operator"
MANAGED_BY = "storefront-operator"
# Kopf's finalizer on every Storefront: it stops the Storefront's daemon before the object goes.
FINALIZER = f"{GROUP}/finalizer"
ROTATE_ANNOTATION = f"{GROUP}/rotate-keys"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc


def _ratio(name: str, default: float) -> float:
    value = _float(name, default)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


def _list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


@dataclass(frozen=True)
class Settings:
    # How often every Storefront is reconciled even when nothing changed (drift, rotation).
    resync_seconds: float = 30.0
    # First retry delay after a failed migration Job; doubles per attempt up to the cap.
    migration_backoff_seconds: float = 30.0
    migration_backoff_cap_seconds: float = 900.0
    # Allowed clock difference between the operator and the app's verifiers.
    clock_skew_seconds: float = 60.0
    # Socket timeout for every Redis command, so one unreachable cluster cannot stall a worker.
    redis_timeout_seconds: float = 3.0
    # Namespaces to watch; empty means cluster-wide.
    namespaces: list[str] = field(default_factory=list)
    peering_name: str = "storefront-operator"
    standalone: bool = False
    # Kopf pauses every replica when two share a priority; a distinct one per process lets
    # exactly the highest act while the others stand by.
    priority: int = field(default_factory=lambda: secrets.randbelow(1_000_000) + 1)
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    metrics_port: int = 9090
    # OpenTelemetry: base URL of an OTLP/HTTP receiver (empty = no tracing) and the share of
    # reconciles traced.
    otlp_endpoint: str = ""
    trace_sampling_ratio: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        p = "STOREFRONT_OPERATOR_"
        return cls(
            resync_seconds=_float(p + "RESYNC_SECONDS", cls.resync_seconds),
            migration_backoff_seconds=_float(p + "MIGRATION_BACKOFF_SECONDS", cls.migration_backoff_seconds),
            migration_backoff_cap_seconds=_float(p + "MIGRATION_BACKOFF_CAP_SECONDS", cls.migration_backoff_cap_seconds),
            clock_skew_seconds=_float(p + "CLOCK_SKEW_SECONDS", cls.clock_skew_seconds),
            redis_timeout_seconds=_float(p + "REDIS_TIMEOUT_SECONDS", cls.redis_timeout_seconds),
            namespaces=_list(p + "NAMESPACES"),
            peering_name=os.environ.get(p + "PEERING_NAME", cls.peering_name),
            priority=int(_float(p + "PRIORITY", secrets.randbelow(1_000_000) + 1)),
            standalone=os.environ.get(p + "STANDALONE", "").lower() in ("1", "true", "yes"),
            liveness_endpoint=os.environ.get(p + "LIVENESS_ENDPOINT", cls.liveness_endpoint),
            metrics_port=int(_float(p + "METRICS_PORT", cls.metrics_port)),
            otlp_endpoint=os.environ.get(p + "OTLP_ENDPOINT", cls.otlp_endpoint),
            trace_sampling_ratio=_ratio(p + "TRACE_SAMPLING_RATIO", cls.trace_sampling_ratio),
        )
