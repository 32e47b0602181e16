"""Process entry: logging, metrics server, then Kopf with peering and a liveness endpoint."""

from __future__ import annotations

import logging

import kopf
from prometheus_client import start_http_server

from . import handlers, tracing  # noqa: F401 - registers the handlers
from .runtime import RUNTIME

WAKE_UP_HANDLERS = ("storefront_changed", "deployment_changed", "job_changed")


class _QuietWakeUps(logging.Filter):
    """Drops Kopf's "Handler 'x' succeeded" line for the wake-up handlers: one per watch event
    would drown the log; their failures still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.endswith("succeeded.") and any(f"'{h}'" in message for h in WAKE_UP_HANDLERS))


def _configure_logging() -> None:
    # Kopf's own JSON formatter: one object a line, and it knows how to render the Kubernetes
    # object references Kopf attaches to its log records.
    kopf.configure(log_format=kopf.LogFormat.JSON, log_refkey="object")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietWakeUps())
        handler.addFilter(tracing.TraceIdFilter())


def main() -> None:
    _configure_logging()
    settings = RUNTIME.settings
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    tracing.start(settings)
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=settings.standalone,
        peering_name=None if settings.standalone else settings.peering_name,
        priority=settings.priority,
        liveness_endpoint=settings.liveness_endpoint or None,
    )


if __name__ == "__main__":
    main()
