"""Orders: server-side totals, atomic stock, idempotency, ownership (BOLA), cancel."""

from __future__ import annotations

import uuid

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
async def admin(api):
    return await api.admin()


async def _product(client, admin, **fields):
    body = {"name": "Kettle", "price": "12.50", "stock": 10, **fields}
    r = await client.post("/products", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _stock(client, product_id):
    return (await client.get(f"/products/{product_id}")).json()["stock"]


async def test_order_total_from_current_prices_and_stock_taken(client, api, admin):
    kettle = await _product(client, admin, price="12.50", stock=10)
    cup = await _product(client, admin, name="Cup", price="3.33", stock=5)
    user = await api.user()
    r = await client.post("/orders", headers=user.headers, json={"items": [
        {"product_id": kettle["id"], "quantity": 2}, {"product_id": cup["id"], "quantity": 3}]})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending" and order["user_id"] == user.id
    assert order["total"] == "34.99"
    assert {(i["product_name"], i["unit_price"], i["quantity"], i["line_total"]) for i in order["items"]} == {
        ("Kettle", "12.50", 2, "25.00"), ("Cup", "3.33", 3, "9.99")}
    assert r.headers["location"] == f"/orders/{order['id']}"
    assert await _stock(client, kettle["id"]) == 8
    assert await _stock(client, cup["id"]) == 2


async def test_price_change_applies_to_new_orders_only(client, api, admin):
    product = await _product(client, admin, price="10.00")
    user = await api.user()
    first = (await client.post("/orders", headers=user.headers,
                               json={"items": [{"product_id": product["id"], "quantity": 1}]})).json()
    await client.patch(f"/products/{product['id']}", json={"price": "11.00"}, headers=admin.headers)
    second = (await client.post("/orders", headers=user.headers,
                                json={"items": [{"product_id": product["id"], "quantity": 1}]})).json()
    assert first["total"] == "10.00" and second["total"] == "11.00"
    assert (await client.get(f"/orders/{first['id']}", headers=user.headers)).json()["total"] == "10.00"


async def test_repeated_product_lines_are_merged(client, api, admin):
    product = await _product(client, admin, stock=5)
    user = await api.user()
    r = await client.post("/orders", headers=user.headers, json={"items": [
        {"product_id": product["id"], "quantity": 2}, {"product_id": product["id"], "quantity": 1}]})
    assert r.status_code == 201
    assert [i["quantity"] for i in r.json()["items"]] == [3]
    assert await _stock(client, product["id"]) == 2


async def test_insufficient_stock_is_409_and_takes_nothing(client, api, admin):
    plenty = await _product(client, admin, name="Plenty", stock=100)
    scarce = await _product(client, admin, name="Scarce", stock=1)
    user = await api.user()
    r = await client.post("/orders", headers=user.headers, json={"items": [
        {"product_id": plenty["id"], "quantity": 5}, {"product_id": scarce["id"], "quantity": 2}]})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/insufficient-stock")
    assert r.json()["available"] == 1 and r.json()["requested"] == 2
    assert await _stock(client, plenty["id"]) == 100
    assert await _stock(client, scarce["id"]) == 1
    assert (await client.get("/orders", headers=user.headers)).json()["items"] == []


async def test_unknown_product_is_422(client, api, admin):
    user = await api.user()
    r = await client.post("/orders", headers=user.headers,
                          json={"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]})
    assert r.status_code == 422
    assert r.json()["type"].endswith("/unknown-product")


@pytest.mark.parametrize("body", [
    {"items": []},
    {"items": [{"product_id": "nope", "quantity": 1}]},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 0}]},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": -1}]},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1, "unit_price": "0.01"}]},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "total": "0.00"},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "user_id": str(uuid.uuid4())},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "status": "cancelled"},
    {},
])
async def test_invalid_or_mass_assigned_bodies_are_422(client, api, body):
    user = await api.user()
    r = await client.post("/orders", headers=user.headers, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"]


async def test_orders_need_a_login(client, api, admin):
    assert (await client.post("/orders", json={"items": []})).status_code == 401
    assert (await client.get("/orders")).status_code == 401
    assert (await client.get(f"/orders/{uuid.uuid4()}")).status_code == 401
    assert (await client.post(f"/orders/{uuid.uuid4()}/cancel")).status_code == 401
    r = await client.post("/api-keys", json={"name": "svc", "scopes": ["products:write"]}, headers=admin.headers)
    key = {"X-API-Key": r.json()["key"]}
    assert (await client.get("/orders", headers=key)).status_code == 403


async def test_idempotent_replay_returns_the_same_order(client, api, admin):
    product = await _product(client, admin, stock=10)
    user = await api.user()
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    headers = {**user.headers, "Idempotency-Key": "checkout-42"}
    first = await client.post("/orders", headers=headers, json=body)
    again = await client.post("/orders", headers=headers, json=body)
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.json() == first.json()
    assert await _stock(client, product["id"]) == 8
    assert len((await client.get("/orders", headers=user.headers)).json()["items"]) == 1


async def test_same_key_other_body_is_422(client, api, admin):
    product = await _product(client, admin, stock=10)
    user = await api.user()
    headers = {**user.headers, "Idempotency-Key": "k-1"}
    assert (await client.post("/orders", headers=headers,
                              json={"items": [{"product_id": product["id"], "quantity": 1}]})).status_code == 201
    r = await client.post("/orders", headers=headers, json={"items": [{"product_id": product["id"], "quantity": 2}]})
    assert r.status_code == 422
    assert r.json()["type"].endswith("/idempotency-key-reused")
    assert await _stock(client, product["id"]) == 9


async def test_idempotency_keys_are_per_user(client, api, admin):
    product = await _product(client, admin, stock=10)
    alice, bob = await api.user(), await api.user()
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    a = await client.post("/orders", headers={**alice.headers, "Idempotency-Key": "same"}, json=body)
    b = await client.post("/orders", headers={**bob.headers, "Idempotency-Key": "same"}, json=body)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_concurrent_retries_with_one_key_create_one_order(client, api, admin):
    import asyncio

    product = await _product(client, admin, stock=100)
    user = await api.user()
    headers = {**user.headers, "Idempotency-Key": "burst"}
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    responses = await asyncio.gather(*(client.post("/orders", headers=headers, json=body) for _ in range(10)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await _stock(client, product["id"]) == 99


async def test_invalid_idempotency_key_is_422(client, api):
    user = await api.user()
    r = await client.post("/orders", headers={**user.headers, "Idempotency-Key": "x" * 256},
                          json={"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]})
    assert r.status_code == 422


async def test_other_users_order_is_404_on_read_and_cancel(client, api, admin):
    product = await _product(client, admin, stock=10)
    owner, intruder = await api.user(), await api.user()
    order = (await client.post("/orders", headers=owner.headers,
                               json={"items": [{"product_id": product["id"], "quantity": 3}]})).json()
    r = await client.get(f"/orders/{order['id']}", headers=intruder.headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    missing = await client.get(f"/orders/{uuid.uuid4()}", headers=intruder.headers)
    assert missing.json()["detail"] == r.json()["detail"]  # indistinguishable from a missing order
    r = await client.post(f"/orders/{order['id']}/cancel", headers=intruder.headers)
    assert r.status_code == 404
    assert (await client.get("/orders", headers=intruder.headers)).json()["items"] == []
    # Nothing happened to the order or the stock.
    assert (await client.get(f"/orders/{order['id']}", headers=owner.headers)).json()["status"] == "pending"
    assert await _stock(client, product["id"]) == 7


async def test_admin_sees_and_cancels_every_order(client, api, admin):
    product = await _product(client, admin, stock=10)
    alice, bob = await api.user(), await api.user()
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    a = (await client.post("/orders", headers=alice.headers, json=body)).json()
    b = (await client.post("/orders", headers=bob.headers, json=body)).json()
    listed = {o["id"] for o in (await client.get("/orders", headers=admin.headers)).json()["items"]}
    assert {a["id"], b["id"]} <= listed
    assert (await client.get(f"/orders/{a['id']}", headers=admin.headers)).status_code == 200
    r = await client.post(f"/orders/{b['id']}/cancel", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert [o["id"] for o in (await client.get("/orders", headers=alice.headers)).json()["items"]] == [a["id"]]


async def test_cancel_returns_stock_once(client, api, admin):
    product = await _product(client, admin, stock=10)
    user = await api.user()
    order = (await client.post("/orders", headers=user.headers,
                               json={"items": [{"product_id": product["id"], "quantity": 4}]})).json()
    assert await _stock(client, product["id"]) == 6
    first = await client.post(f"/orders/{order['id']}/cancel", headers=user.headers)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "cancelled" and first.json()["cancelled_at"]
    second = await client.post(f"/orders/{order['id']}/cancel", headers=user.headers)
    assert second.status_code == 200 and second.json()["status"] == "cancelled"
    assert await _stock(client, product["id"]) == 10


async def test_concurrent_cancels_return_stock_once(client, api, admin):
    import asyncio

    product = await _product(client, admin, stock=10)
    user = await api.user()
    order = (await client.post("/orders", headers=user.headers,
                               json={"items": [{"product_id": product["id"], "quantity": 4}]})).json()
    responses = await asyncio.gather(*(client.post(f"/orders/{order['id']}/cancel", headers=user.headers)
                                       for _ in range(8)))
    assert {r.status_code for r in responses} == {200}
    assert await _stock(client, product["id"]) == 10


async def test_deleted_product_keeps_order_snapshot(client, api, admin):
    product = await _product(client, admin, stock=10)
    user = await api.user()
    order = (await client.post("/orders", headers=user.headers,
                               json={"items": [{"product_id": product["id"], "quantity": 1}]})).json()
    assert (await client.delete(f"/products/{product['id']}", headers=admin.headers)).status_code == 204
    kept = (await client.get(f"/orders/{order['id']}", headers=user.headers)).json()
    assert kept["items"][0]["product_id"] is None
    assert kept["items"][0]["product_name"] == "Kettle" and kept["total"] == "12.50"
    assert (await client.post(f"/orders/{order['id']}/cancel", headers=user.headers)).status_code == 200


async def test_order_list_paginates(client, api, admin):
    product = await _product(client, admin, stock=100)
    user = await api.user()
    ids = [(await client.post("/orders", headers=user.headers,
                              json={"items": [{"product_id": product["id"], "quantity": 1}]})).json()["id"]
           for _ in range(5)]
    first = (await client.get("/orders", params={"limit": 2}, headers=user.headers)).json()
    second = (await client.get("/orders", params={"limit": 2, "cursor": first["next_cursor"]},
                               headers=user.headers)).json()
    third = (await client.get("/orders", params={"limit": 2, "cursor": second["next_cursor"]},
                              headers=user.headers)).json()
    assert third["next_cursor"] is None
    walked = [o["id"] for page in (first, second, third) for o in page["items"]]
    assert walked == list(reversed(ids))
