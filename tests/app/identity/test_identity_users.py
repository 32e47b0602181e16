"""/users/me and admin user management, including BOLA and session ending."""

from __future__ import annotations

import uuid

from identity_helpers import audit_events


async def test_me_needs_a_login(client):
    r = await client.get("/users/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_get_and_patch_my_name(client, api):
    account = await api.user(name="Grace Hopper")
    me = (await client.get("/users/me", headers=account.headers)).json()
    assert me["id"] == account.id and me["email"] == account.email and me["name"] == "Grace Hopper"
    r = await client.patch("/users/me", json={"name": "Rear Admiral Hopper"}, headers=account.headers)
    assert r.status_code == 200 and r.json()["name"] == "Rear Admiral Hopper"


async def test_patch_me_accepts_only_name_and_password(client, api):
    account = await api.user()
    for body in ({"role": "admin"}, {"is_active": False}, {"id": str(uuid.uuid4())}, {"email": "x@example.com"}, {},
                 {"password": "orchard-lantern-newer"}):
        r = await client.patch("/users/me", json=body, headers=account.headers)
        assert r.status_code == 422, body
    assert (await client.get("/users/me", headers=account.headers)).json()["role"] == "customer"


async def test_password_change_needs_the_current_password_and_ends_sessions(client, api, postgres_server, database_name):
    account = await api.user()
    other_session = await api.login(account.email, account.password)
    r = await client.patch("/users/me", json={"password": "orchard-lantern-newer", "current_password": "orchard-lantern-wrong"},
                           headers=account.headers)
    assert r.status_code == 403
    r = await client.patch("/users/me", json={"password": "Password2024!", "current_password": account.password},
                           headers=account.headers)
    assert r.status_code == 422
    r = await client.patch("/users/me", json={"password": "orchard-lantern-newer", "current_password": account.password},
                           headers=account.headers)
    assert r.status_code == 200, r.text
    # Every session ended: access tokens and refresh tokens of both logins.
    assert (await client.get("/users/me", headers=account.headers)).status_code == 401
    for refresh_token in (account.refresh_token, other_session["refresh_token"]):
        assert (await client.post("/auth/refresh", json={"refresh_token": refresh_token})).status_code == 401
    assert (await client.post("/auth/login", json={"email": account.email, "password": account.password})).status_code == 401
    assert (await client.post("/auth/login", json={"email": account.email, "password": "orchard-lantern-newer"})).status_code == 200
    assert "user.password_changed|success" in await audit_events(postgres_server, database_name, account.id)


async def test_user_list_is_for_admins(client, api):
    customer = await api.user()
    assert (await client.get("/users", headers=customer.headers)).status_code == 403
    assert (await client.get("/users")).status_code == 401
    admin = await api.admin()
    r = await client.get("/users", params={"limit": 1}, headers=admin.headers)
    assert r.status_code == 200
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    seen = [page["items"][0]["id"]]
    while page["next_cursor"]:
        page = (await client.get("/users", params={"limit": 1, "cursor": page["next_cursor"]}, headers=admin.headers)).json()
        seen += [u["id"] for u in page["items"]]
    assert {customer.id, admin.id} <= set(seen) and len(seen) == len(set(seen))
    found = (await client.get("/users", params={"email": customer.email.upper()}, headers=admin.headers)).json()
    assert [u["id"] for u in found["items"]] == [customer.id]
    assert (await client.get("/users", params={"cursor": "garbage!"}, headers=admin.headers)).status_code == 422
    assert (await client.get("/users", params={"limit": 0}, headers=admin.headers)).status_code == 422


async def test_admin_changes_role_and_it_takes_effect(client, api, postgres_server, database_name):
    admin = await api.admin()
    customer = await api.user()
    r = await client.patch(f"/users/{customer.id}", json={"role": "admin"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    # The promoted user's existing token now carries admin rights (the role is read live).
    assert (await client.get("/users", headers=customer.headers)).status_code == 200
    r = await client.patch(f"/users/{customer.id}", json={"role": "customer"}, headers=admin.headers)
    assert (await client.get("/users", headers=customer.headers)).status_code == 403
    events = await audit_events(postgres_server, database_name, customer.id)
    assert events.count("user.role_changed|success") == 2


async def test_deactivation_ends_sessions_and_blocks_login(client, api, postgres_server, database_name):
    admin = await api.admin()
    customer = await api.user()
    r = await client.patch(f"/users/{customer.id}", json={"is_active": False}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/users/me", headers=customer.headers)).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": customer.refresh_token})).status_code == 401
    r = await client.post("/auth/login", json={"email": customer.email, "password": customer.password})
    assert r.status_code == 401
    await client.patch(f"/users/{customer.id}", json={"is_active": True}, headers=admin.headers)
    assert (await client.post("/auth/login", json={"email": customer.email, "password": customer.password})).status_code == 200
    assert "user.deactivated|success" in await audit_events(postgres_server, database_name, customer.id)


async def test_patch_user_bola_and_errors(client, api):
    admin = await api.admin()
    customer = await api.user()
    victim = await api.user()
    # A customer can change nobody, not even themselves, through the admin route.
    for target in (victim.id, customer.id):
        r = await client.patch(f"/users/{target}", json={"role": "admin"}, headers=customer.headers)
        assert r.status_code == 403
    assert (await client.get("/users/me", headers=victim.headers)).json()["role"] == "customer"
    assert (await client.patch(f"/users/{uuid.uuid4()}", json={"role": "admin"}, headers=admin.headers)).status_code == 404
    assert (await client.patch("/users/not-a-uuid", json={"role": "admin"}, headers=admin.headers)).status_code == 422
    assert (await client.patch(f"/users/{victim.id}", json={"role": "root"}, headers=admin.headers)).status_code == 422
    assert (await client.patch(f"/users/{victim.id}", json={"name": "x"}, headers=admin.headers)).status_code == 422
    # An admin cannot lock themselves out.
    assert (await client.patch(f"/users/{admin.id}", json={"is_active": False}, headers=admin.headers)).status_code == 409
    assert (await client.patch(f"/users/{admin.id}", json={"role": "customer"}, headers=admin.headers)).status_code == 409
