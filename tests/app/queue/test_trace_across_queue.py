"""One order, one trace across the queue: the worker's handling of an event and its webhook
delivery (with the outbound call) continue the trace of the request that placed the order, and
an order's expiry continues it too. The API runs in this process and the worker as its own
process, both exporting over OTLP to one loopback receiver, against the real PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio

import pytest
from queue_support import Receiver, WorkerProcess, async_wait_for, worker_env
from sqlalchemy import select

from app.models.outbox import OutboxEvent
from storefront_harness.otlp import OtlpReceiver

pytestmark = pytest.mark.slow

SERVER, CLIENT, CONSUMER = 2, 3, 5  # SpanKind in the OTLP enum


@pytest.fixture
def otlp():
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def settings(settings, otlp):
    return settings.model_copy(update={"otlp_endpoint": otlp.endpoint, "trace_sampling_ratio": 1.0})


def _ids(traceparent: str) -> tuple[str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1, traceparent  # sampled
    return trace_id, span_id


def _one(spans, what, **attributes):
    found = [s for s in spans if s.name == what and all(s.attributes.get(k) == v for k, v in attributes.items())]
    assert len(found) == 1, f"{what} {attributes}: {len(found)} spans among {sorted({s.name for s in spans})}"
    return found[0]


async def test_the_worker_continues_the_trace_of_the_request_that_placed_the_order(
        api, client, settings, otlp, sessionmaker, tmp_path):
    admin = await api.admin()
    with Receiver() as receiver:
        r = await client.post("/webhooks", json={"url": receiver.url, "events": ["order.placed", "order.expired"]},
                              headers=admin.headers)
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        product = (await client.post("/products", json={"name": "Traced", "price": "3.00", "stock": 10},
                                     headers=admin.headers)).json()["id"]
        customer = await api.user()
        r = await client.post("/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                              headers=customer.headers)
        assert r.status_code == 201, r.text
        order_id = r.json()["id"]
        # The worker expires it soon after, so its expiry is traced too.
        env = worker_env(settings, STOREFRONT_OTLP_ENDPOINT=otlp.endpoint, STOREFRONT_TRACE_SAMPLING_RATIO="1.0",
                         STOREFRONT_ORDER_PENDING_TTL_SECONDS="1", STOREFRONT_ORDER_EXPIRY_INTERVAL_SECONDS="0.5")
        worker = WorkerProcess(env, tmp_path / "w.log", "w")
        try:
            await asyncio.to_thread(worker.wait_ready)
            try:
                await async_wait_for(lambda: len(receiver.processed) == 2, 60)
            except AssertionError:
                raise AssertionError(f"deliveries: {receiver.attempts}\n{worker.tail()}") from None
            assert await asyncio.to_thread(worker.terminate) == 0  # flushes the spans still queued
        finally:
            worker.kill()
    async with sessionmaker() as session:
        written = dict((await session.execute(
            select(OutboxEvent.event_type, OutboxEvent.traceparent)
            .where(OutboxEvent.aggregate_id == order_id))).all())
    by_type = {event["type"]: event for event in receiver.processed.values()}
    placed_id, expired_id = by_type["order.placed"]["id"], by_type["order.expired"]["id"]
    spans = otlp.wait_for(lambda s: len([x for x in s if x.name == "webhook.deliver"]) == 2, timeout=15)
    worker_spans = [s for s in spans if s.resource["service.name"] == "storefront-worker"]

    # The request: its server span is what the order.placed event carried.
    request = _one(spans, "POST /orders")
    assert request.kind == SERVER and request.resource["service.name"] == "storefront-api"
    assert _ids(written["order.placed"]) == (request.trace_id, request.span_id)

    # The worker's handling of order.placed and its delivery: children of the request span.
    handled = _one(worker_spans, "event.handle", **{"storefront.event.id": placed_id})
    assert handled.kind == CONSUMER and handled.attributes["storefront.event.type"] == "order.placed"
    delivery = _one(worker_spans, "webhook.deliver", **{"storefront.event.id": placed_id})
    assert delivery.attributes["storefront.event.type"] == "order.placed"
    assert delivery.attributes["storefront.webhook.attempt"] == 1
    for span in (handled, delivery):
        assert (span.trace_id, span.parent_span_id) == (request.trace_id, request.span_id), span
    # The outbound call is the delivery's child, and its traceparent reached the receiver.
    [post] = [s for s in worker_spans if s.kind == CLIENT and s.parent_span_id == delivery.span_id
              and not s.attributes.get("db.system")]
    assert post.name == "POST", post
    sent = next(a["traceparent"] for a in receiver.attempts if a["event_id"] == placed_id)
    assert sent.split("-")[1:3] == [request.trace_id, post.span_id]
    # Its database statements (the attempt's record) sit under it too.
    assert [s for s in worker_spans if s.parent_span_id == delivery.span_id and s.attributes.get("db.system")]

    # Nothing the worker did started a trace of its own (its loops' polling starts none): each of
    # its spans continues a request's trace (this order's, or the registrations' before it).
    assert [(s.name, s.attributes.get("storefront.event.type")) for s in worker_spans if not s.parent_span_id] == []
    others = {s.trace_id for s in worker_spans} - {request.trace_id}
    assert {s.attributes.get("storefront.event.type") for s in worker_spans
            if s.trace_id in others and s.name == "event.handle"} <= {"user.registered"}, others

    # The expiry: a span in the same trace, under the request; its event's handling and delivery under it.
    expiry = _one(worker_spans, "order.expire", **{"storefront.order.id": order_id})
    assert (expiry.trace_id, expiry.parent_span_id) == (request.trace_id, request.span_id)
    assert _ids(written["order.expired"]) == (expiry.trace_id, expiry.span_id)
    for span in (_one(worker_spans, "event.handle", **{"storefront.event.id": expired_id}),
                 _one(worker_spans, "webhook.deliver", **{"storefront.event.id": expired_id})):
        assert (span.trace_id, span.parent_span_id) == (request.trace_id, expiry.span_id), span
