"""Prometheus metrics of the operator (served on settings.metrics_port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from storefront_operator.redis_cluster import WIRING_ACTIONS

RECONCILES = Counter("storefront_operator_reconciles_total", "Reconciles run, by result.", ["result"])
RECONCILE_SECONDS = Histogram("storefront_operator_reconcile_duration_seconds", "Time one reconcile takes.",
                              buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
FAILURES = Counter("storefront_operator_reconcile_failures_total", "Reconciles that raised, by stage.", ["stage"])
ROTATIONS = Counter("storefront_operator_key_rotations_total", "Key timeline steps, by action.", ["action"])
MIGRATIONS = Counter("storefront_operator_migrations_total", "Migration Jobs, by outcome.", ["outcome"])
READY = Gauge("storefront_operator_storefronts_ready", "Storefronts whose Ready condition is True.", ["namespace", "name"])
REDIS_WIRING = Counter("storefront_operator_redis_wiring_actions_total", "Cluster wiring actions taken.", ["action"])
KEY_ROTATION_DUE = Gauge(
    "storefront_operator_key_rotation_due_timestamp_seconds",
    "When the signing key of a Storefront is due to be replaced (Unix time); alerts compare it with time().",
    ["namespace", "name"])
QUEUE_LAG = Gauge("storefront_operator_queue_lag", "Events in the Storefront's stream not yet delivered to its workers.",
                  ["namespace", "name"])
QUEUE_PENDING = Gauge("storefront_operator_queue_pending", "Events delivered to a worker and not yet acknowledged.",
                      ["namespace", "name"])
QUEUE_DEAD_LETTERS = Gauge("storefront_operator_queue_dead_letters", "Events in the Storefront's dead-letter stream.",
                           ["namespace", "name"])
CONDITION = Gauge(
    "storefront_operator_storefront_condition",
    "Each condition of each Storefront: 1 when True, 0 when False or Unknown (alerts use RedisReady and Ready).",
    ["namespace", "name", "condition"])

# Counters alerts take increase() or rate() of start at 0, so the first failure counts.
for _outcome in ("started", "succeeded", "failed"):
    MIGRATIONS.labels(_outcome)
for _stage in ("keys", "redis", "migrations", "apply", "reconcile"):
    FAILURES.labels(_stage)
for _action in WIRING_ACTIONS:
    REDIS_WIRING.labels(_action)
