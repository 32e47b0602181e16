"""The queue through outages, with the API and a worker as real processes on their own
PostgreSQL and Redis: Redis stopped during order traffic (events wait in the outbox, all arrive
afterwards, each once at the receiver) and PostgreSQL down when the worker starts (the relay
backs off, /ready says 503, and everything flows once it is back)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app" / "queue"))

from queue_support import Receiver, WorkerProcess, wait_for
from reliability_support import wait_for_status

from bench import api
from bench.services import Workdir

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

QUEUE_SETTINGS = {
    "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "STOREFRONT_WEBHOOK_ALLOW_HTTP": "true",
    "STOREFRONT_WEBHOOK_TIMEOUT_SECONDS": "2",
    "STOREFRONT_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
    "STOREFRONT_OUTBOX_POLL_INTERVAL_SECONDS": "0.05",
    "STOREFRONT_QUEUE_CLAIM_IDLE_SECONDS": "3",
    "STOREFRONT_DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
    "STOREFRONT_DATABASE_POOL_TIMEOUT_SECONDS": "2",
    "STOREFRONT_REDIS_SOCKET_TIMEOUT_SECONDS": "0.5",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple]:
    with Workdir("queue-faults") as work:
        datastores = work.datastores(**QUEUE_SETTINGS)
        server = work.server("bench.apps:storefront_app", datastores.env, "app")
        yield work, datastores, server


def _order_ids(datastores) -> set[str]:
    out = datastores.pg.psql("SELECT id FROM orders", "storefront")
    return {line.strip() for line in out.splitlines() if line.strip()}


def _setup(stack, receiver: Receiver) -> tuple[str, str]:
    work, datastores, server = stack
    with api.client(server.url) as http:
        admin = api.login(http, "bench-admin@example.com", datastores.admin_password)["access_token"]
        r = http.post("/webhooks", json={"url": receiver.url, "events": ["order.placed"]}, headers=api.bearer(admin))
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        product = api.create_product(http, admin, "Queue outage product", stock=1_000_000)
        customer = api.login(http, api.register(http), api.PASSWORD)["access_token"]
    return product, customer


def _all_delivered(expected: set[str], receiver: Receiver, worker: WorkerProcess, timeout: float) -> None:
    wait_for(lambda: {b["data"]["order_id"] for b in receiver.processed.values()} >= expected, timeout,
             lambda: f"{len(receiver.processed)} of {len(expected)} orders delivered\n{worker.tail()}")


def test_redis_outage_during_order_traffic_loses_no_event(stack):
    work, datastores, server = stack
    before = _order_ids(datastores)
    with Receiver() as receiver:
        product, customer = _setup(stack, receiver)
        worker = WorkerProcess(datastores.env, work.path / "worker-redis.log", "w-redis")
        try:
            worker.wait_ready()
            with api.client(server.url) as http:
                def place(n: int) -> None:
                    for _ in range(n):
                        r = http.post("/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                                      headers=api.bearer(customer))
                        assert r.status_code == 201, r.text

                place(5)
                datastores.redis.stop()
                try:
                    wait_for(lambda: worker._status("/ready") == 503, 15, "the worker stayed ready without Redis")
                    place(5)  # orders keep coming: their events wait in the outbox
                    unsent = int(datastores.pg.psql("SELECT count(*) FROM outbox_events WHERE sent_at IS NULL",
                                                    "storefront"))
                    assert unsent >= 5, "the events of the outage did not wait in the outbox"
                finally:
                    datastores.redis.start()
                place(5)
            placed = _order_ids(datastores) - before
            assert len(placed) == 15
            _all_delivered(placed, receiver, worker, 90)
            assert receiver.bad_signatures == 0
            # Each event once at the receiver's idempotent check; redeliveries may have happened.
            assert len(receiver.processed) == 15
        finally:
            worker.terminate()


def test_postgres_down_the_relay_backs_off_and_resumes(stack):
    work, datastores, server = stack
    before = _order_ids(datastores)
    with Receiver() as receiver:
        product, customer = _setup(stack, receiver)
        with api.client(server.url) as http:
            for _ in range(5):
                r = http.post("/orders", json={"items": [{"product_id": product, "quantity": 1}]},
                              headers=api.bearer(customer))
                assert r.status_code == 201, r.text
        datastores.pg.stop()
        worker = None
        try:
            worker = WorkerProcess(datastores.env, work.path / "worker-pg.log", "w-pg")
            wait_for(lambda: worker._status("/health") == 200, 60, lambda: worker.tail())
            time.sleep(3)
            assert worker._status("/ready") == 503
            assert "relay" in worker.tail() and "retrying with backoff" in worker.tail()
        finally:
            datastores.pg.start()
        try:
            worker.wait_ready()
            _all_delivered(_order_ids(datastores) - before, receiver, worker, 60)
            with api.client(server.url) as http:
                wait_for_status(http, "/ready", 200, timeout=30)
        finally:
            worker.terminate()
