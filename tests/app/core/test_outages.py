"""Backing services failing: PostgreSQL stopped → 503 within a bounded time and recovery without
a restart; Redis stopped → the documented degradation (catalog reads still served, /ready 503).

These stop the session's servers, so they restart them whatever happens.
"""

from __future__ import annotations

import asyncio
import time

import pytest

pytestmark = pytest.mark.reliability

BOUND_SECONDS = 8.0


async def _timed(coro):
    start = time.monotonic()
    result = await coro
    return result, time.monotonic() - start


async def test_postgres_down_gives_503_then_recovers(client, api, postgres_server):
    user = await api.user()
    admin = await api.admin()
    product = (await client.post("/products", json={"name": "P", "price": 1, "stock": 5}, headers=admin.headers)).json()
    assert (await client.get("/ready")).status_code == 200

    await asyncio.to_thread(postgres_server.stop)
    try:
        for request in (client.get("/orders", headers=user.headers),
                        client.post("/orders", headers=user.headers,
                                    json={"items": [{"product_id": product["id"], "quantity": 1}]}),
                        client.get("/products", params={"q": "never-cached"})):
            r, elapsed = await _timed(request)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"].endswith("-unavailable")
            assert elapsed < BOUND_SECONDS
        r, elapsed = await _timed(client.get("/ready"))
        assert r.status_code == 503 and r.json()["checks"]["database"] != "ok"
        assert elapsed < BOUND_SECONDS
        assert (await client.get("/health")).status_code == 200
    finally:
        await asyncio.to_thread(postgres_server.start)

    # The same app, no restart: the pool's pre-ping replaces the dead connections.
    assert (await client.get("/ready")).status_code == 200
    r = await client.post("/orders", headers=user.headers, json={"items": [{"product_id": product["id"], "quantity": 1}]})
    assert r.status_code == 201, r.text


async def test_redis_down_degrades_and_recovers(client, api, redis_server):
    admin = await api.admin()
    product = (await client.post("/products", json={"name": "R", "price": 1, "stock": 5}, headers=admin.headers)).json()
    redis_server.stop()
    try:
        # Catalog reads skip the cache and come from PostgreSQL.
        r, elapsed = await _timed(client.get(f"/products/{product['id']}"))
        assert r.status_code == 200 and elapsed < BOUND_SECONDS
        assert (await client.get("/products")).status_code == 200
        r = await client.get("/ready")
        assert r.status_code == 503 and r.json()["checks"]["redis"] != "ok"
    finally:
        redis_server.start()
    assert (await client.get("/ready")).status_code == 200
    assert (await client.get(f"/products/{product['id']}")).status_code == 200
