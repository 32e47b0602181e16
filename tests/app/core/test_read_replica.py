"""Catalog reads on a read replica (``STOREFRONT_DATABASE_READ_URL``): a real hot standby
streaming from its own primary. Pausing the standby's WAL replay makes its lag visible, which
shows which server answered a request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.core import db
from app.core.migrations import upgrade
from app.main import create_app
from app.services import cache
from storefront_harness.polling import wait_for_async

DATABASE = "storefront"


@pytest.fixture(scope="module")
def replicated(postgres_pair):
    primary, standby = postgres_pair
    upgrade(primary.url(DATABASE))
    standby.wait_caught_up()
    return primary, standby


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(db, "REPLICA_RETRY_SECONDS", 0.5)
    monkeypatch.setattr(cache, "REPLICA_REINVALIDATE_SECONDS", 0.5)


async def _client(replicated, settings_for, api_on, **overrides) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    primary, standby = replicated
    app = create_app(settings_for(primary, DATABASE, database_read_url=standby.url(DATABASE), **overrides))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, api_on(client, primary, DATABASE)


@pytest.fixture
async def uncached(replicated, settings_for, api_on, fast_retries):
    async for pair in _client(replicated, settings_for, api_on, product_cache_ttl_seconds=0):
        yield pair


@pytest.fixture
async def cached(replicated, settings_for, api_on, fast_retries):
    async for pair in _client(replicated, settings_for, api_on, product_cache_ttl_seconds=30):
        yield pair


async def _create_product(client, admin, **fields) -> str:
    r = await client.post("/products", json={"name": "Replicated mug", "price": "12.50", "stock": 5, **fields},
                          headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _fallbacks(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("storefront_db_replica_fallbacks_total "):
            return float(line.split()[1])
    return 0.0


async def test_catalog_reads_come_from_the_replica_and_orders_from_the_primary(uncached, replicated):
    client, api = uncached
    _, standby = replicated
    admin, customer = await api.admin(), await api.user()
    standby.pause_replay()
    try:
        product_id = await _create_product(client, admin)
        # The primary has the product; the paused replica has not replayed it yet.
        assert (await client.get(f"/products/{product_id}")).status_code == 404
        listed = (await client.get("/products")).json()["items"]
        assert product_id not in [p["id"] for p in listed]
        # Orders read stock and prices inside their own transaction, on the primary.
        r = await client.post("/orders", json={"items": [{"product_id": product_id, "quantity": 2}]},
                              headers=customer.headers)
        assert r.status_code == 201, r.text
    finally:
        standby.resume_replay()

    async def replicated_with_stock_taken() -> bool:
        r = await client.get(f"/products/{product_id}")
        return r.status_code == 200 and r.json()["stock"] == 3

    await wait_for_async(replicated_with_stock_taken, 15, message="the replica to replay the order")


async def test_a_replica_outage_moves_reads_to_the_primary_and_back(uncached, replicated):
    client, api = uncached
    _, standby = replicated
    admin = await api.admin()
    product_id = await _create_product(client, admin, name="Outage mug")
    standby.wait_caught_up()
    before = _fallbacks((await client.get("/metrics")).text)
    standby.stop()
    try:
        for _ in range(3):
            r = await client.get(f"/products/{product_id}")
            assert r.status_code == 200, r.text
        assert (await client.get("/products")).status_code == 200
        assert _fallbacks((await client.get("/metrics")).text) >= before + 1
        # Still ready (reads have the primary), and /ready says what is missing.
        r = await client.get("/ready")
        assert r.status_code == 200 and r.json()["checks"]["database_replica"] == "failed", r.text
    finally:
        await asyncio.to_thread(standby.start)

    # Back on the replica once it answers again: a product it has not replayed is not found.
    await asyncio.to_thread(standby.wait_caught_up)
    assert (await client.get("/ready")).json()["checks"]["database_replica"] == "ok"
    standby.pause_replay()
    try:
        unseen = await _create_product(client, admin, name="Unreplayed mug")

        async def served_by_the_replica() -> bool:
            return (await client.get(f"/products/{unseen}")).status_code == 404

        await wait_for_async(served_by_the_replica, 15, message="reads back on the replica")
    finally:
        standby.resume_replay()


async def test_a_stale_copy_cached_from_the_lagging_replica_is_dropped_soon(cached, replicated):
    client, api = cached
    _, standby = replicated
    admin = await api.admin()
    product_id = await _create_product(client, admin, name="Cached mug")
    standby.wait_caught_up()
    standby.pause_replay()
    try:
        r = await client.patch(f"/products/{product_id}", json={"price": "20.00"}, headers=admin.headers)
        assert r.status_code == 200, r.text
        # Read from the lagging replica and cached: the old price, for now.
        assert (await client.get(f"/products/{product_id}")).json()["price"] == "12.50"
    finally:
        standby.resume_replay()
    await asyncio.to_thread(standby.wait_caught_up)

    async def new_price() -> bool:
        return (await client.get(f"/products/{product_id}")).json()["price"] == "20.00"

    # Well inside the 30 s cache TTL: the second invalidation after the write dropped the copy.
    await wait_for_async(new_price, 5, message="the new price")


async def test_shutdown_right_after_a_write_leaves_no_delayed_invalidation_behind(replicated, settings_for, api_on):
    primary, standby = replicated
    app = create_app(settings_for(primary, DATABASE, database_read_url=standby.url(DATABASE)))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.21", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            admin = await api_on(client, primary, DATABASE).admin()
            await _create_product(client, admin, name="Last write")
            assert cache._pending  # the second invalidation is scheduled
    assert not cache._pending  # cancelled at shutdown, before Redis closed
