"""``python -m app.worker`` as real processes: signed webhooks reach a loopback receiver, a worker
killed mid-delivery costs a redelivery but no second effect, two workers never send one event at
once, a dead-lettered delivery shows in the API and the metrics, and SIGTERM exits cleanly."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from queue_support import Receiver, WorkerProcess, async_wait_for, wait_for, worker_env

pytestmark = pytest.mark.slow


async def _webhook(client, admin, url: str, events=("order.placed",)) -> dict:
    r = await client.post("/webhooks", json={"url": url, "events": list(events)}, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _orders(api, client, admin, n: int) -> list[str]:
    customer = await api.user()
    product = (await client.post("/products", json={"name": f"w-{uuid.uuid4().hex[:6]}", "price": "3.00",
                                                    "stock": 1000}, headers=admin.headers)).json()["id"]
    ids = []
    for _ in range(n):
        r = await client.post("/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                              headers=customer.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def _received_orders(receiver: Receiver) -> list[str]:
    return sorted(body["data"]["order_id"] for body in receiver.processed.values())


async def test_worker_kill_mid_delivery_and_two_workers(api, client, settings, tmp_path):
    admin = await api.admin()
    with Receiver() as receiver:
        receiver.secret = (await _webhook(client, admin, receiver.url))["secret"]
        env = worker_env(settings)
        first = WorkerProcess(env, tmp_path / "w1.log", "w1")
        try:
            await asyncio.to_thread(first.wait_ready)
            for path in ("/health", "/metrics"):
                assert (await asyncio.to_thread(httpx.get, first.url + path, timeout=5)).status_code == 200
            # The receiver holds the first delivery; the worker is killed while it waits.
            receiver.hold.clear()
            [order] = await _orders(api, client, admin, 1)
            await asyncio.to_thread(wait_for, receiver.arrived.is_set, 30,
                                    lambda: f"no delivery arrived:\n{first.tail()}")
            first.kill()
        finally:
            first.kill()
        receiver.hold.set()
        workers = [WorkerProcess(env, tmp_path / f"w{i}.log", f"w{i}") for i in (2, 3)]
        try:
            for w in workers:
                await asyncio.to_thread(w.wait_ready)
            more = await _orders(api, client, admin, 20)
            await async_wait_for(lambda: len(receiver.processed) == 21, 60,
                                 f"deliveries missing: {len(receiver.processed)}/21\n{workers[0].tail()}")
            assert _received_orders(receiver) == sorted([order, *more])
            attempts_of_first = [a for a in receiver.attempts if a["event_id"] in receiver.processed
                                 and receiver.processed[a["event_id"]]["data"]["order_id"] == order]
            assert len(attempts_of_first) >= 1 and receiver.bad_signatures == 0
            # Two workers, 20 events: none sent twice at once, each processed once by the receiver.
            assert receiver.max_overlap == 1
            metrics = (await asyncio.to_thread(httpx.get, workers[0].url + "/metrics", timeout=5)).text
            assert "storefront_queue_lag" in metrics and "storefront_event_end_to_end_seconds_count" in metrics
            started = time.monotonic()
            codes = [await asyncio.to_thread(w.terminate, 30) for w in workers]
            assert codes == [0, 0] and time.monotonic() - started < 30
        finally:
            for w in workers:
                w.kill()


async def test_failing_receiver_is_dead_lettered_and_visible(api, client, settings, tmp_path):
    admin = await api.admin()
    with Receiver(status=500) as receiver:
        hook = await _webhook(client, admin, receiver.url)
        receiver.secret = hook["secret"]
        worker = WorkerProcess(worker_env(settings, STOREFRONT_WEBHOOK_MAX_ATTEMPTS="3"), tmp_path / "w.log", "w")
        try:
            await asyncio.to_thread(worker.wait_ready)
            await _orders(api, client, admin, 1)

            async def dead() -> bool:
                r = await client.get(f"/webhooks/{hook['id']}/deliveries?status=dead_lettered", headers=admin.headers)
                return len(r.json()["items"]) == 1

            await async_wait_for(dead, 60, f"not dead-lettered:\n{worker.tail()}")
            [delivery] = (await client.get(f"/webhooks/{hook['id']}/deliveries", headers=admin.headers)).json()["items"]
            assert delivery["attempts"] == 3 and delivery["last_status_code"] == 500 and delivery["dead_lettered"]
            assert len(receiver.attempts) == 3
            metrics = (await asyncio.to_thread(httpx.get, worker.url + "/metrics", timeout=5)).text
            assert 'storefront_webhook_deliveries_total{outcome="dead_lettered"} 1.0' in metrics
            assert 'storefront_webhook_deliveries_total{outcome="retry"} 2.0' in metrics
            assert await asyncio.to_thread(worker.terminate) == 0
        finally:
            worker.kill()
