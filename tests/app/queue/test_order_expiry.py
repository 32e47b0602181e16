"""Order expiry: stock returned exactly once, with several sweeps at once and against a cancel."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from app.services import order_expiry


async def _setup(api, client, orders: int, stock: int = 100):
    admin, customer = await api.admin(), await api.user()
    product = (await client.post("/products", json={"name": f"e-{uuid.uuid4().hex[:6]}", "price": "1.00",
                                                    "stock": stock}, headers=admin.headers)).json()["id"]
    ids = []
    for _ in range(orders):
        r = await client.post("/orders", json={"items": [{"product_id": product, "quantity": 2}]},
                              headers=customer.headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return customer, product, ids


async def _age(sessionmaker, seconds: int) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE orders SET created_at = created_at - make_interval(secs => :s)"),
                              {"s": seconds})


async def _stock(sessionmaker, product: str) -> int:
    async with sessionmaker() as session:
        return await session.scalar(text("SELECT stock FROM products WHERE id = :id"), {"id": product})


async def _expired_events(sessionmaker) -> list[str]:
    async with sessionmaker() as session:
        return list((await session.scalars(text(
            "SELECT aggregate_id::text FROM outbox_events WHERE event_type = 'order.expired'"))).all())


async def test_concurrent_sweeps_return_stock_exactly_once(api, client, sessionmaker):
    _customer, product, ids = await _setup(api, client, orders=12)
    fresh = (await _setup(api, client, orders=1))[2][0]  # placed now: not expired
    assert await _stock(sessionmaker, product) == 100 - 24
    await _age(sessionmaker, 7200)
    async with sessionmaker() as session, session.begin():  # the fresh one stays young
        await session.execute(text("UPDATE orders SET created_at = now() WHERE id = :id"), {"id": fresh})
    results = await asyncio.gather(*(order_expiry.expire_batch(sessionmaker, ttl_seconds=3600, batch_size=5)
                                     for _ in range(6)))
    while (more := await order_expiry.expire_all(sessionmaker, ttl_seconds=3600, batch_size=5)):
        results.append([None] * more)
    expired = [i for batch in results for i in batch if i is not None]
    assert len(expired) + sum(1 for batch in results for i in batch if i is None) == 12
    assert await _stock(sessionmaker, product) == 100
    assert sorted(await _expired_events(sessionmaker)) == sorted(ids)
    async with sessionmaker() as session:
        statuses = dict((await session.execute(text(
            "SELECT id::text, status || CASE WHEN expired_at IS NULL THEN '' ELSE '/expired' END FROM orders"))).all())
    assert all(statuses[i] == "cancelled/expired" for i in ids) and statuses[fresh] == "pending"


async def test_expiry_racing_a_cancel_returns_stock_once(api, client, sessionmaker):
    customer, product, ids = await _setup(api, client, orders=10)
    await _age(sessionmaker, 7200)
    cancels = [client.post(f"/orders/{i}/cancel", headers=customer.headers) for i in ids]
    outcome = await asyncio.gather(order_expiry.expire_all(sessionmaker, ttl_seconds=3600, batch_size=3),
                                   order_expiry.expire_all(sessionmaker, ttl_seconds=3600, batch_size=3), *cancels)
    assert all(r.status_code == 200 for r in outcome[2:])
    assert await _stock(sessionmaker, product) == 100  # each order's 2 units came back once
    async with sessionmaker() as session:
        rows = (await session.execute(text(
            "SELECT o.id::text, CASE WHEN o.expired_at IS NULL THEN o.status ELSE 'expired' END, "
            "array_agg(e.event_type ORDER BY e.seq) FROM orders o "
            "JOIN outbox_events e ON e.aggregate_id = o.id GROUP BY o.id"))).all()
    for order_id, status, events in rows:
        assert status in ("cancelled", "expired"), order_id
        assert events == ["order.placed", f"order.{status}"], (order_id, events)
    # Cancelling an expired order changes nothing.
    expired = [order_id for order_id, status, _ in rows if status == "expired"]
    for order_id in expired:
        r = await client.post(f"/orders/{order_id}/cancel", headers=customer.headers)
        assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["expired_at"]
    assert await _stock(sessionmaker, product) == 100
