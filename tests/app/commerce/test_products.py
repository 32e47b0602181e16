"""Products: public reads, admin (or products:write key) writes, pagination and search."""

from __future__ import annotations

import uuid

import pytest

PROBLEM = "application/problem+json"


async def _create(client, headers, **fields):
    body = {"name": "Teapot", "price": "24.90", "stock": 7, **fields}
    r = await client.post("/products", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_admin_creates_and_anyone_reads(client, api):
    admin = await api.admin()
    created = await _create(client, admin.headers, description="Cast iron")
    assert created["price"] == "24.90" and created["stock"] == 7 and created["description"] == "Cast iron"
    r = await client.get(f"/products/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    # Served again (from the cache this time) with the same body.
    assert (await client.get(f"/products/{created['id']}")).json() == created


async def test_create_sets_location(client, api):
    admin = await api.admin()
    r = await client.post("/products", json={"name": "Cup", "price": 3}, headers=admin.headers)
    assert r.status_code == 201
    assert r.headers["location"] == f"/products/{r.json()['id']}"
    assert r.json()["price"] == "3"  or r.json()["price"] == "3.00"


async def test_unknown_product_is_404_problem(client):
    r = await client.get(f"/products/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["title"] == "Not found"


async def test_malformed_id_is_422(client):
    r = await client.get("/products/not-a-uuid")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "path.product_id"


async def test_customer_cannot_write(client, api):
    admin = await api.admin()
    product = await _create(client, admin.headers)
    user = await api.user()
    for method, url, body in (("POST", "/products", {"name": "X", "price": 1}),
                              ("PATCH", f"/products/{product['id']}", {"price": 1}),
                              ("DELETE", f"/products/{product['id']}", None)):
        r = await client.request(method, url, json=body, headers=user.headers)
        assert r.status_code == 403, (method, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)


async def test_anonymous_cannot_write(client):
    r = await client.post("/products", json={"name": "X", "price": 1})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_api_key_with_scope_can_write_and_without_cannot(client, api):
    admin = await api.admin()
    r = await client.post("/api-keys", json={"name": "catalog-sync", "scopes": ["products:write"]}, headers=admin.headers)
    assert r.status_code == 201, r.text
    writer = {"X-API-Key": r.json()["key"]}
    r = await client.post("/api-keys", json={"name": "reader", "scopes": ["users:read"]}, headers=admin.headers)
    assert r.status_code == 201, r.text
    other = {"X-API-Key": r.json()["key"]}

    created = await _create(client, writer, name="Synced")
    assert created["name"] == "Synced"
    r = await client.post("/products", json={"name": "Nope", "price": 1}, headers=other)
    assert r.status_code == 403


async def test_patch_changes_only_given_fields_and_invalidates_cache(client, api):
    admin = await api.admin()
    product = await _create(client, admin.headers)
    assert (await client.get(f"/products/{product['id']}")).json()["price"] == "24.90"  # now cached
    r = await client.patch(f"/products/{product['id']}", json={"price": "19.99", "stock": 3}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["price"] == "19.99" and r.json()["stock"] == 3 and r.json()["name"] == "Teapot"
    fresh = (await client.get(f"/products/{product['id']}")).json()
    assert fresh["price"] == "19.99" and fresh["stock"] == 3


@pytest.mark.parametrize("body", [
    {"price": -1},
    {"price": "1.234"},
    {"stock": -5},
    {"name": ""},
    {"name": None},
    {"id": str(uuid.uuid4())},
    {"created_at": "2020-01-01T00:00:00Z"},
    {"owner": "me"},
])
async def test_patch_rejects_invalid_and_unknown_fields(client, api, body):
    admin = await api.admin()
    product = await _create(client, admin.headers)
    r = await client.patch(f"/products/{product['id']}", json=body, headers=admin.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"]


async def test_patch_and_delete_unknown_product_is_404(client, api):
    admin = await api.admin()
    missing = uuid.uuid4()
    assert (await client.patch(f"/products/{missing}", json={"price": 1}, headers=admin.headers)).status_code == 404
    assert (await client.delete(f"/products/{missing}", headers=admin.headers)).status_code == 404


async def test_delete_removes_product(client, api):
    admin = await api.admin()
    product = await _create(client, admin.headers)
    await client.get(f"/products/{product['id']}")  # cached
    r = await client.delete(f"/products/{product['id']}", headers=admin.headers)
    assert r.status_code == 204 and r.content == b""
    assert (await client.get(f"/products/{product['id']}")).status_code == 404


async def test_pagination_walks_every_product_once(client, api):
    admin = await api.admin()
    ids = {(await _create(client, admin.headers, name=f"Item {i:02d}"))["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/products", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["limit"] == 3 and len(page["items"]) <= 3
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7 and set(seen) == ids
    # Newest first.
    names = [p["name"] for p in (await client.get("/products", params={"limit": 100})).json()["items"]]
    assert names == [f"Item {i:02d}" for i in reversed(range(7))]


async def test_list_sees_new_products_despite_cache(client, api):
    admin = await api.admin()
    assert (await client.get("/products")).json()["items"] == []
    await _create(client, admin.headers, name="Fresh")
    assert [p["name"] for p in (await client.get("/products")).json()["items"]] == ["Fresh"]


async def test_search_by_name_is_case_insensitive_substring(client, api):
    admin = await api.admin()
    for name in ("Green Tea", "Black tea", "Coffee", "100% cotton", "under_score"):
        await _create(client, admin.headers, name=name)
    names = lambda r: sorted(p["name"] for p in r.json()["items"])  # noqa: E731
    assert names(await client.get("/products", params={"q": "TEA"})) == ["Black tea", "Green Tea"]
    assert names(await client.get("/products", params={"q": "coffee"})) == ["Coffee"]
    # LIKE wildcards in the query are literal characters.
    assert names(await client.get("/products", params={"q": "%"})) == ["100% cotton"]
    assert names(await client.get("/products", params={"q": "_"})) == ["under_score"]
    assert names(await client.get("/products", params={"q": "nothing"})) == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"q": ""}, {"cursor": "garbage!"}])
async def test_list_rejects_bad_parameters(client, params):
    r = await client.get("/products", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_create_rejects_mass_assignment(client, api):
    admin = await api.admin()
    r = await client.post("/products", json={"name": "X", "price": 1, "id": str(uuid.uuid4())}, headers=admin.headers)
    assert r.status_code == 422
    assert any(e["field"] == "body.id" for e in r.json()["errors"])


async def test_nul_character_is_422_not_500(client, api):
    r = await client.get("/products", params={"q": "tea\x00"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    admin = await api.admin()
    r = await client.post("/products", json={"name": "a\u0000b", "price": 1}, headers=admin.headers)
    assert r.status_code == 422, r.text
