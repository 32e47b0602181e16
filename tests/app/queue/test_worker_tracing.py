"""The worker traces too when an OTLP endpoint is set: a webhook delivery is a client span
(carrying ``traceparent`` to the receiver) beside the worker's database and Redis spans, under
the service name ``storefront-worker``."""

from __future__ import annotations

import asyncio

import pytest
from queue_support import Receiver, WorkerProcess, async_wait_for, worker_env

from storefront_harness.otlp import OtlpReceiver

pytestmark = pytest.mark.slow


async def test_worker_spans_reach_the_otlp_receiver(api, client, settings, tmp_path):
    admin = await api.admin()
    with Receiver() as receiver, OtlpReceiver() as otlp:
        r = await client.post("/webhooks", json={"url": receiver.url, "events": ["order.placed"]}, headers=admin.headers)
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        worker = WorkerProcess(worker_env(settings, STOREFRONT_OTLP_ENDPOINT=otlp.endpoint), tmp_path / "w.log", "w")
        try:
            await asyncio.to_thread(worker.wait_ready)
            customer = await api.user()
            product = (await client.post("/products", json={"name": "Traced", "price": "3.00", "stock": 10},
                                         headers=admin.headers)).json()["id"]
            r = await client.post("/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                                  headers=customer.headers)
            assert r.status_code == 201, r.text
            await async_wait_for(lambda: len(receiver.processed) == 1, 60, f"no delivery:\n{worker.tail()}")
            assert await asyncio.to_thread(worker.terminate) == 0  # flushes the spans still queued
        finally:
            worker.kill()
        spans = otlp.wait_for(lambda s: any(x.kind == 3 for x in s), timeout=15)  # 3: SpanKind.CLIENT
    assert {s.resource["service.name"] for s in spans} == {"storefront-worker"}
    [delivery] = [s for s in spans if s.kind == 3 and receiver.url.split("/hooks")[0] in str(
        s.attributes.get("url.full") or s.attributes.get("http.url"))]
    traceparent = receiver.attempts[0]["traceparent"]
    assert traceparent.split("-")[1:3] == [delivery.trace_id, delivery.span_id]
    assert [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    assert [s for s in spans if s.attributes.get("db.system") == "redis"]
