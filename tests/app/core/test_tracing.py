"""OpenTelemetry tracing: off installs nothing; on, a real OTLP/HTTP receiver gets the request
span with its database, Redis and argon2 children, and a caller's ``traceparent`` is continued."""

from __future__ import annotations

import io
import json
import logging
import secrets

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import event

from app.core import tracing
from app.core.db import get_engine
from app.core.logging import ContextFilter, _formatter
from app.core.redis import get_redis
from app.main import create_app
from storefront_harness.otlp import OtlpReceiver
from tests.app.conftest import Api

SERVER = 2  # SpanKind.SERVER in the OTLP enum (0 is unspecified)


def _client(app) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _ancestors(span, by_id) -> list:
    chain = []
    while span.parent_span_id and span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


async def test_off_by_default_installs_nothing(settings):
    assert settings.otlp_endpoint == ""
    app = create_app(settings)
    assert app.state.tracing is None
    async with LifespanManager(app), _client(app) as client:
        assert (await client.get("/products")).status_code == 200
        # No OpenTelemetry middleware, no SQLAlchemy listener of theirs, the Redis client unwrapped.
        names = []
        layer = app.middleware_stack
        while layer is not None:
            names.append(type(layer).__name__)
            layer = getattr(layer, "app", None)
        assert not [n for n in names if "OpenTelemetry" in n], names
        listeners = event.registry._key_to_collection  # every registered listener, by target
        assert not [k for k in listeners if "opentelemetry" in repr(k).lower()]
        assert not hasattr(get_redis().execute_command, "__wrapped__")
        assert not event.contains(get_engine().sync_engine, "before_cursor_execute",
                                  _otel_listener(get_engine().sync_engine))


def _otel_listener(sync_engine):
    """The OpenTelemetry before_cursor_execute listener on this engine, if any (else a stand-in)."""
    for fn in sync_engine.dispatch.before_cursor_execute:
        if "opentelemetry" in getattr(fn, "__module__", ""):
            return fn
    return lambda *a: None


async def test_request_spans_reach_an_otlp_receiver(settings, postgres_server, database_name):
    with OtlpReceiver() as receiver:
        traced = settings.model_copy(update={"otlp_endpoint": receiver.endpoint, "trace_sampling_ratio": 1.0})
        app = create_app(traced)
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        async with LifespanManager(app), _client(app) as client:
            api = Api(client, postgres_server, database_name)
            admin = await api.admin()
            r = await client.post("/products", json={"name": "Kettle", "price": "12.50", "stock": 10},
                                  headers=admin.headers)
            assert r.status_code == 201, r.text
            product = r.json()
            assert (await client.get(f"/products/{product['id']}")).status_code == 200
            user = await api.register()
            # The caller's trace continues: its traceparent names the parent of our request span.
            r = await client.post("/auth/login", json={"email": user["email"], "password": user["password"]},
                                  headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            r = await client.post("/orders", json={"items": [{"product_id": product["id"], "quantity": 1}]},
                                  headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
            assert (await client.get("/health")).status_code == 200
        # The lifespan's end flushed every queued span to the receiver.
        spans = receiver.wait_for(lambda s: any(x.name == "POST /orders" for x in s))

    by_id = {s.span_id: s for s in spans}
    assert {s.resource["service.name"] for s in spans} == {"storefront-api"}
    assert not [s for s in spans if s.name.endswith(("/health", "/ready", "/metrics"))]

    login = next(s for s in receiver.trace(trace_id) if s.name == "POST /auth/login" and s.kind == SERVER)
    assert login.trace_id == trace_id and login.parent_span_id == parent_id
    assert login.attributes.get("http.route") == "/auth/login"
    in_login = [s for s in receiver.trace(trace_id) if login in _ancestors(s, by_id)]
    names = {s.name for s in in_login}
    assert "argon2.verify" in names, names
    verify = next(s for s in in_login if s.name == "argon2.verify")
    assert verify.parent_span_id == login.span_id and verify.end_ns - verify.start_ns > 1_000_000
    assert [s for s in in_login if s.attributes.get("db.system") == "postgresql"], names
    assert [s for s in in_login if s.attributes.get("db.system") == "redis"], names

    order = next(s for s in spans if s.name == "POST /orders" and s.kind == SERVER)
    assert order.trace_id != trace_id and order.parent_span_id == ""
    children = [s for s in spans if order in _ancestors(s, by_id)]
    statements = [s.attributes.get("db.statement", "") for s in children if s.attributes.get("db.system") == "postgresql"]
    assert any(st.lstrip().upper().startswith("INSERT INTO ORDERS") for st in statements), statements
    assert [s for s in children if s.attributes.get("db.system") == "redis"]  # the per-user rate limit at least
    # Statements carry placeholders, never the values bound to them.
    assert not [st for st in statements if user["email"] in st]

    register = next(s for s in spans if s.name == "POST /auth/register" and s.kind == SERVER)
    assert [s for s in spans if s.name == "argon2.hash" and s.parent_span_id == register.span_id]


async def test_outbound_httpx_calls_carry_traceparent(settings):
    with OtlpReceiver() as receiver:
        app = create_app(settings.model_copy(update={"otlp_endpoint": receiver.endpoint}))
        async with LifespanManager(app), httpx.AsyncClient() as outbound:
            with tracing.span("deliver") as current:
                assert (await outbound.get(f"{receiver.endpoint}/hook")).status_code == 204
            trace_id = format(current.get_span_context().trace_id, "032x")
        spans = receiver.wait_for(lambda s: any(x.name == "deliver" for x in s))
    traceparent = receiver.calls[0]["traceparent"]
    client_span = next(s for s in spans if s.trace_id == trace_id and s.name == "GET")
    version, sent_trace, sent_parent, flags = traceparent.split("-")
    assert (version, sent_trace, sent_parent) == ("00", trace_id, client_span.span_id)
    assert int(flags, 16) & 1  # sampled


async def test_sampling_ratio_zero_records_nothing_but_a_sampled_caller_still_is(settings):
    with OtlpReceiver() as receiver:
        traced = settings.model_copy(update={"otlp_endpoint": receiver.endpoint, "trace_sampling_ratio": 0.0})
        app = create_app(traced)
        trace_id = secrets.token_hex(16)
        async with LifespanManager(app), _client(app) as client:
            for _ in range(5):
                assert (await client.get("/products")).status_code == 200
            r = await client.get("/products", headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
            assert r.status_code == 200
        spans = receiver.wait_for(lambda s: any(x.trace_id == trace_id for x in s))
    assert {s.trace_id for s in spans} == {trace_id}


def test_log_lines_carry_trace_and_span_ids_beside_the_correlation_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter(json_logs=True))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("test.tracing.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    provider = TracerProvider()
    try:
        logger.info("outside")
        with provider.get_tracer("test").start_as_current_span("work") as current:
            logger.info("inside")
    finally:
        provider.shutdown()
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert outside["trace_id"] is None and outside["span_id"] is None and "correlation_id" in outside
    context = current.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")


@pytest.fixture(autouse=True)
def _no_tracer_left_behind():
    yield
    assert tracing._tracer is None
