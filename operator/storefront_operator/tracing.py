"""OpenTelemetry tracing of the operator: one span per reconcile (the Storefront as its
attributes) with a child span per step, exported over OTLP/HTTP when
``STOREFRONT_OPERATOR_OTLP_ENDPOINT`` is set; off, ``span()`` is a no-op. Log lines written
inside a span carry its trace and span ids (``TraceIdFilter``)."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import trace

from .settings import Settings

log = logging.getLogger("storefront_operator.tracing")

_NO_SPAN: AbstractContextManager[Any] = nullcontext()
_tracer: trace.Tracer | None = None
_provider: Any = None


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes or None)


def set_attributes(**attributes: Any) -> None:
    """Adds attributes to the current span (a no-op outside one or with tracing off)."""
    if _tracer is not None:
        trace.get_current_span().set_attributes({k: v for k, v in attributes.items() if v is not None})


def start(settings: Settings, exporter: Any = None) -> bool:
    """Installs the operator's tracer; False (and nothing installed) without an endpoint."""
    global _tracer, _provider
    if not settings.otlp_endpoint and exporter is None:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces", timeout=5)
    resource = Resource.create({"service.name": "storefront-operator",
                                "service.instance.id": os.environ.get("HOSTNAME") or socket.gethostname()})
    _provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.trace_sampling_ratio)))
    _provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    _tracer = _provider.get_tracer("storefront_operator")
    log.info("tracing on: OTLP to %s, sampling %s", settings.otlp_endpoint, settings.trace_sampling_ratio)
    return True


def stop() -> None:
    """Flushes and removes the tracer (bounded by the exporter's timeout)."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        provider.shutdown()


class TraceIdFilter(logging.Filter):
    """Puts ``trace_id`` and ``span_id`` on log records written inside a span."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True
