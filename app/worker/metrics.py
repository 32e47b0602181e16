"""The worker's Prometheus metrics (served on its own port at ``/metrics``). The names are a
contract with the operator's dashboards and alerts (docs/operator.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from app.services.outbox import EVENT_TYPES

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

QUEUE_LAG = Gauge("storefront_queue_lag", "Stream entries not yet delivered to the consumer group (XINFO GROUPS lag).")
QUEUE_PENDING = Gauge("storefront_queue_pending", "Stream entries delivered to a consumer and not acknowledged yet.")
QUEUE_DEAD_LETTERS = Gauge("storefront_queue_dead_letters", "Entries in the dead-letter stream (XLEN).")
OUTBOX_UNSENT = Gauge("storefront_outbox_unsent", "Outbox events not yet relayed to the stream.")
OUTBOX_RELAYED = Counter("storefront_outbox_relayed_total", "Outbox events this process relayed to the stream.")
EVENTS = Counter("storefront_worker_events_total",
                 "Stream entries handled, by event type and outcome (processed, duplicate, retry, dead_lettered).",
                 ["type", "outcome"])
# Exported from 0, so increase() sees a pod's first dead letter (a series born at 1 shows none).
EVENT_OUTCOMES = ("processed", "duplicate", "retry", "dead_lettered")
for _type in EVENT_TYPES:
    for _outcome in EVENT_OUTCOMES:
        EVENTS.labels(_type, _outcome)
WEBHOOK_DELIVERIES = Counter("storefront_webhook_deliveries_total",
                             "Webhook delivery attempts by outcome (succeeded, retry, dead_lettered, lost_lease).",
                             ["outcome"])
WEBHOOK_DELIVERY_SECONDS = Histogram("storefront_webhook_delivery_seconds",
                                     "Duration of one webhook delivery attempt (resolution and request).",
                                     buckets=_SECONDS)
EVENT_END_TO_END = Histogram("storefront_event_end_to_end_seconds",
                             "From the outbox insert (the change's transaction) to the event handled by a worker.",
                             buckets=_SECONDS)
ORDERS_EXPIRED = Counter("storefront_orders_expired_total", "Pending orders this process expired (stock returned).")
