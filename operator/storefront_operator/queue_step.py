"""The queue step of a reconcile: read the workers' stream from the Storefront's Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from . import metrics
from .keys import parse_stamp, stamp
from .kube import Kube, KubeError
from .model import SpecError, Storefront
from .queue import QueueStats, read_queue_stats
from .redis_wiring import read_secret_value
from .settings import Settings

log = logging.getLogger("storefront_operator.queue")


@dataclass(frozen=True)
class QueueResult:
    stats: QueueStats | None
    problem: str = ""

    def status(self, previous: dict[str, Any] | None, now: datetime, refresh_seconds: float) -> dict[str, Any]:
        """``status.queue``. Under traffic the figures change on every read, and every status
        write wakes this Storefront's reconcile again: so moving figures are written at most
        once per ``refresh_seconds`` (the metrics carry them live); a new dead letter, a
        queue draining to zero or an error is written at once."""
        previous = previous or {}
        if self.stats is None:
            return {"queue": {**previous, "message": self.problem[:300]}}
        fresh = {**self.stats.as_status(), "message": "", "observedAt": stamp(now)}
        last = parse_stamp(previous["observedAt"]) if previous.get("observedAt") else None
        urgent = previous.get("message") or previous.get("deadLetters") != fresh["deadLetters"] \
            or (fresh["lag"] == 0) != (previous.get("lag") == 0) or previous.get("consumerGroup") != fresh["consumerGroup"]
        if urgent or last is None or (now - last).total_seconds() >= refresh_seconds:
            return {"queue": fresh}
        return {"queue": previous}


def queue_addresses(sf: Storefront, cluster_nodes: list[str]) -> list[str]:
    redis_spec = sf.spec.redis
    return [redis_spec.address] if redis_spec.mode == "standalone" and redis_spec.address else list(cluster_nodes)


def observe_queue(kube: Kube, sf: Storefront, cluster_nodes: list[str], settings: Settings) -> QueueResult:
    """Never raises: an unreadable queue is reported in status, it does not stop the reconcile."""
    ref = sf.spec.redis.secret_ref
    try:
        password = read_secret_value(kube, sf.namespace, ref.name, ref.key) if ref else None
        stats = read_queue_stats(queue_addresses(sf, cluster_nodes), password, settings.redis_timeout_seconds)
    except (SpecError, KubeError, redis.RedisError, OSError, ValueError) as exc:
        metrics.FAILURES.labels("queue").inc()
        log.info("queue of %s/%s not readable: %s", sf.namespace, sf.name, exc)
        return QueueResult(None, f"queue not readable: {exc}")
    return QueueResult(stats)
