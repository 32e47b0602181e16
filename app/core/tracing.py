"""OpenTelemetry tracing, exported over OTLP/HTTP when ``STOREFRONT_OTLP_ENDPOINT`` is set.

Off (the default) nothing is installed: no middleware, no SQLAlchemy or Redis hooks, and
``span()`` is a shared no-op context manager, so the hot path pays nothing. On, the app gets a
request span per HTTP request (W3C ``traceparent`` from the caller continues its trace), a
child span per SQL statement and per Redis command, spans around argon2, and outbound httpx
calls carry ``traceparent`` onwards. Probes and ``/metrics`` are not traced. Across the queue,
an event carries the ``traceparent`` of the span that wrote it (``current_traceparent``), and
the worker's handling of it continues that trace (``continued``).

The tracer provider is the app's own (not the process-global one), so every app built in one
process (tests build many) starts and stops its tracing with its lifespan.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from app.core.config import Settings

log = logging.getLogger(__name__)

# Not traced: probes and scrapes would drown the traces that matter.
EXCLUDED_URLS = "/health$,/ready$,/metrics$"

_NO_SPAN: AbstractContextManager[Any] = nullcontext()
_tracer: trace.Tracer | None = None


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child span of the current one when tracing is on; a no-op otherwise."""
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes or None)


def enabled() -> bool:
    """Whether tracing is on in this process (work done only for traces can be skipped when not)."""
    return _tracer is not None


def continued(traceparent: str | None, name: str, *, consumer: bool = False,
              **attributes: Any) -> AbstractContextManager[Any]:
    """A span continuing the trace a W3C ``traceparent`` names (a new trace without one, never
    the caller's current span: the worker's loops are no one's children); a no-op when tracing
    is off. ``consumer`` marks the handling of a message (span kind CONSUMER)."""
    if _tracer is None:
        return _NO_SPAN
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent}, context=Context()) \
        if traceparent else Context()
    kind = trace.SpanKind.CONSUMER if consumer else trace.SpanKind.INTERNAL
    return _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes or None)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (its sampled flag included), or None outside one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span as lowercase hex, or (None, None) outside one."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


@dataclass
class Tracing:
    """What ``start_tracing`` installed, so ``stop`` can take exactly that back out."""

    provider: Any
    redis_clients: list[Any] = field(default_factory=list)
    sqlalchemy: Any = None
    httpx: Any = None

    def instrument_engines(self, engines: Iterable[Any]) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        self.sqlalchemy = SQLAlchemyInstrumentor()
        # Its declared range stops below SQLAlchemy 2.1, whose cursor events it uses unchanged
        # (tests/app/core/test_tracing.py proves the statement spans arrive).
        self.sqlalchemy.instrument(engines=[e.sync_engine for e in engines], tracer_provider=self.provider,
                                   enable_commenter=False, skip_dep_check=True)

    def instrument_redis(self, client: Any) -> None:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor.instrument_client(client, tracer_provider=self.provider)
        self.redis_clients.append(client)

    def instrument_httpx(self) -> None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        self.httpx = HTTPXClientInstrumentor()
        self.httpx.instrument(tracer_provider=self.provider)

    def stop(self) -> None:
        """Unhooks everything and flushes the spans still queued (bounded by the exporter's timeout)."""
        global _tracer
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        for client in self.redis_clients:
            RedisInstrumentor.uninstrument_client(client)
        self.redis_clients.clear()
        if self.sqlalchemy is not None:
            self.sqlalchemy.uninstrument()
            self.sqlalchemy = None
        if self.httpx is not None:
            self.httpx.uninstrument()
            self.httpx = None
        _tracer = None
        self.provider.shutdown()


def _named_roots_sampler(names: frozenset[str], ratio: float) -> Any:
    """Starts a trace only from a root span with one of ``names`` (at ``ratio``, by trace id);
    any other span without a parent (a poll's SQL or Redis command) is dropped."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, TraceIdRatioBased

    by_ratio = TraceIdRatioBased(ratio)

    class NamedRoots(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None) -> SamplingResult:
            if name not in names:
                return SamplingResult(Decision.DROP)
            return by_ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"NamedRoots{{{','.join(sorted(names))}}}/{by_ratio.get_description()}"

    return NamedRoots()


def build_provider(settings: Settings, roots: frozenset[str] | None = None) -> Any:
    """A tracer provider exporting in batches to ``{endpoint}/v1/traces``, sampling by trace id
    at ``trace_sampling_ratio`` unless the caller's ``traceparent`` already decided. With
    ``roots``, only spans of those names start a trace (the worker: its loops' polling is no trace)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create({
        "service.name": settings.trace_service_name,
        "service.version": settings.version,
        "service.instance.id": os.environ.get("HOSTNAME") or socket.gethostname(),
        "deployment.environment.name": settings.environment,
    })
    root = TraceIdRatioBased(settings.trace_sampling_ratio) if roots is None \
        else _named_roots_sampler(roots, settings.trace_sampling_ratio)
    provider = TracerProvider(resource=resource, sampler=ParentBased(root))
    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces",
                                timeout=settings.otlp_timeout_seconds)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    return provider


def start_tracing(settings: Settings, roots: frozenset[str] | None = None) -> Tracing | None:
    """The app's tracing, or None (and nothing installed) when no OTLP endpoint is configured.
    ``roots``: see ``build_provider``."""
    global _tracer
    if not settings.otlp_endpoint:
        return None
    provider = build_provider(settings, roots)
    _tracer = provider.get_tracer("storefront")
    log.info("tracing on: OTLP to %s, sampling %s", settings.otlp_endpoint, settings.trace_sampling_ratio)
    return Tracing(provider=provider)


def instrument_app(app: Any, tracing: Tracing) -> None:
    """The outermost middleware: a server span per request, continuing the caller's ``traceparent``."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracing.provider, excluded_urls=EXCLUDED_URLS,
                                       exclude_spans=["receive", "send"])
