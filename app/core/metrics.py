"""Prometheus metrics of the API, on the default registry served at ``/metrics``.

Each uvicorn worker process has its own registry; in Kubernetes the app runs one worker per
pod and scales with replicas, so every scrape target is one process.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "storefront_http_requests_total", "HTTP requests by route template, method and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "storefront_http_request_duration_seconds", "HTTP request latency by route template.",
    ["method", "route"], buckets=_LATENCY_BUCKETS,
)
HTTP_ERRORS = Counter(
    "storefront_http_errors_total", "Responses with a 4xx or 5xx status, by route template and status.",
    ["route", "status"],
)
UNHANDLED_EXCEPTIONS = Counter(
    "storefront_unhandled_exceptions_total", "Exceptions that became a 500, by exception type.", ["exception"],
)
DB_QUERY_LATENCY = Histogram(
    "storefront_db_query_duration_seconds", "SQL statement duration by statement kind.",
    ["operation"], buckets=_LATENCY_BUCKETS,
)
REPLICA_FALLBACKS = Counter(
    "storefront_db_replica_fallbacks_total",
    "Times the read replica could not be reached and catalog reads went to the primary instead.",
)
CACHE_REQUESTS = Counter(
    "storefront_cache_requests_total", "Cache look-ups by cache name and result (hit, miss, error).",
    ["cache", "result"],
)
RATE_LIMITED = Counter("storefront_rate_limited_total", "Requests refused with 429, by limit.", ["limit"])
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "storefront_rate_limit_backend_errors_total", "Redis errors while rate limiting (requests were let through).",
)
RETENTION_PURGED = Counter(
    "storefront_retention_purged_total",
    "Rows deleted by the retention purge: ended sessions (their tokens with them), old audit events and "
    "finished webhook deliveries.",
    ["kind"],
)
SIGNUPS = Counter("storefront_signups_total", "Accounts registered.")
LOGINS = Counter("storefront_logins_total", "Login attempts by result (success, failure, mfa_required, locked).", ["result"])
ORDERS = Counter(
    "storefront_orders_total", "Order operations by result (created, replayed, insufficient_stock, cancelled).",
    ["result"],
)


def _operation(statement: str) -> str:
    head = statement.lstrip().split(None, 1)
    word = head[0].upper() if head else "OTHER"
    return word if word in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK"} else "OTHER"


def instrument_engine(engine: AsyncEngine) -> None:
    """Times every statement through SQLAlchemy's cursor events."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("sf_query_start", []).append(time.perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        starts = conn.info.get("sf_query_start")
        if starts:
            DB_QUERY_LATENCY.labels(_operation(statement)).observe(time.perf_counter() - starts.pop())

    @event.listens_for(sync_engine, "handle_error")
    def _error(context: Any) -> None:
        conn = context.connection
        if conn is not None and conn.info.get("sf_query_start"):
            conn.info["sf_query_start"].pop()
