"""200 concurrent orders for a product with stock 50: exactly 50 succeed, stock ends at 0.

The orders run concurrently through the ASGI app against the real PostgreSQL, on the app's
connection pool, so the conditional UPDATEs really race each other.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.core.db import get_engine


async def test_200_concurrent_orders_for_50_in_stock(client, api):
    admin = await api.admin()
    product = (await client.post("/products", json={"name": "Limited", "price": "5.00", "stock": 50},
                                 headers=admin.headers)).json()
    buyers = [await api.user() for _ in range(4)]
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}

    responses = await asyncio.gather(*(
        client.post("/orders", json=body, headers=buyers[i % len(buyers)].headers) for i in range(200)
    ))

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 50, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(409) == 150
    async with get_engine().connect() as conn:
        stock = (await conn.execute(text("SELECT stock FROM products WHERE id = :id"), {"id": product["id"]})).scalar_one()
        orders = (await conn.execute(text("SELECT count(*) FROM orders"))).scalar_one()
        sold = (await conn.execute(text("SELECT coalesce(sum(quantity), 0) FROM order_items"))).scalar_one()
    assert stock == 0
    assert orders == 50 and sold == 50


async def test_orders_over_two_products_in_opposite_order_do_not_deadlock(client, api):
    admin = await api.admin()
    a = (await client.post("/products", json={"name": "A", "price": "1.00", "stock": 40}, headers=admin.headers)).json()
    b = (await client.post("/products", json={"name": "B", "price": "2.00", "stock": 40}, headers=admin.headers)).json()
    user = await api.user()
    forward = {"items": [{"product_id": a["id"], "quantity": 1}, {"product_id": b["id"], "quantity": 1}]}
    backward = {"items": [{"product_id": b["id"], "quantity": 1}, {"product_id": a["id"], "quantity": 1}]}
    responses = await asyncio.gather(*(
        client.post("/orders", json=forward if i % 2 else backward, headers=user.headers) for i in range(60)
    ))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 40 and statuses.count(409) == 20
    assert (await client.get(f"/products/{a['id']}")).json()["stock"] == 0
    assert (await client.get(f"/products/{b['id']}")).json()["stock"] == 0
