"""API keys: admin-managed, shown once, stored hashed, scoped, revocable, used via X-API-Key."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from identity_helpers import audit_events


async def _create(client, admin, scopes, name="catalog sync"):
    r = await client.post("/api-keys", json={"name": name, "scopes": scopes}, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_shows_the_key_once_and_stores_only_a_hash(client, api, postgres_server, database_name):
    admin = await api.admin()
    created = await _create(client, admin, ["products:write"])
    key = created["key"]
    assert key.startswith(f"sf_{created['prefix']}_") and len(key) > 50
    listed = (await client.get("/api-keys", headers=admin.headers)).json()
    entry = next(k for k in listed if k["id"] == created["id"])
    assert "key" not in entry and entry["scopes"] == ["products:write"] and entry["revoked_at"] is None
    stored = await asyncio.to_thread(postgres_server.psql, f"SELECT key_hash FROM api_keys WHERE id = '{created['id']}'",
                                     database_name)
    assert stored == hashlib.sha256(key.encode()).hexdigest() and key not in stored
    assert "api_key.created|success" in await audit_events(postgres_server, database_name, created["id"])


async def test_api_key_management_is_for_admins(client, api):
    customer = await api.user()
    assert (await client.post("/api-keys", json={"name": "x", "scopes": ["products:write"]}, headers=customer.headers)).status_code == 403
    assert (await client.get("/api-keys", headers=customer.headers)).status_code == 403
    assert (await client.delete(f"/api-keys/{uuid.uuid4()}", headers=customer.headers)).status_code == 403
    assert (await client.get("/api-keys")).status_code == 401


async def test_create_validates_scopes_and_fields(client, api):
    admin = await api.admin()
    for body in ({"name": "x", "scopes": ["root"]}, {"name": "x", "scopes": []}, {"name": "", "scopes": ["users:read"]},
                 {"name": "x", "scopes": ["users:read"], "owner": str(uuid.uuid4())}):
        assert (await client.post("/api-keys", json=body, headers=admin.headers)).status_code == 422, body


async def test_scopes_decide_what_a_key_may_do(client, api):
    admin = await api.admin()
    reader = (await _create(client, admin, ["users:read"]))["key"]
    writer = (await _create(client, admin, ["products:write"]))["key"]
    assert (await client.get("/users", headers={"X-API-Key": reader})).status_code == 200
    assert (await client.get("/users", headers={"X-API-Key": writer})).status_code == 403
    r = await client.post("/products", json={"name": f"Key-made {uuid.uuid4().hex[:6]}", "price": "1.00", "stock": 1},
                          headers={"X-API-Key": writer})
    assert r.status_code == 201, r.text
    r = await client.post("/products", json={"name": "Nope", "price": "1.00", "stock": 1}, headers={"X-API-Key": reader})
    assert r.status_code == 403
    # A key is not a user: user-only routes refuse it.
    assert (await client.get("/users/me", headers={"X-API-Key": reader})).status_code == 403


async def test_bad_and_revoked_keys_are_refused(client, api, postgres_server, database_name):
    admin = await api.admin()
    created = await _create(client, admin, ["users:read"])
    key = created["key"]
    for bad in ("nope", key[:-1] + ("A" if key[-1] != "A" else "B"), "sf_000000000000_" + "x" * 43):
        assert (await client.get("/users", headers={"X-API-Key": bad})).status_code == 401, bad
    assert (await client.delete(f"/api-keys/{created['id']}", headers=admin.headers)).status_code == 204
    assert (await client.get("/users", headers={"X-API-Key": key})).status_code == 401
    # Revoking again is harmless; unknown and malformed ids are 404 and 422.
    assert (await client.delete(f"/api-keys/{created['id']}", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"/api-keys/{uuid.uuid4()}", headers=admin.headers)).status_code == 404
    assert (await client.delete("/api-keys/zzz", headers=admin.headers)).status_code == 422
    listed = (await client.get("/api-keys", headers=admin.headers)).json()
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] is not None
    assert (await audit_events(postgres_server, database_name, created["id"])).count("api_key.revoked|success") == 1


async def test_bearer_and_api_key_together_are_refused(client, api):
    admin = await api.admin()
    key = (await _create(client, admin, ["users:read"]))["key"]
    r = await client.get("/users", headers={**admin.headers, "X-API-Key": key})
    assert r.status_code == 401


async def test_last_used_is_recorded(client, api):
    admin = await api.admin()
    created = await _create(client, admin, ["users:read"])
    assert (await client.get("/users", headers={"X-API-Key": created["key"]})).status_code == 200
    listed = (await client.get("/api-keys", headers=admin.headers)).json()
    assert next(k for k in listed if k["id"] == created["id"])["last_used_at"] is not None
