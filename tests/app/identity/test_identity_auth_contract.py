"""The auth rows of the contract: register, login, refresh, logout, JWKS."""

from __future__ import annotations

import uuid

from identity_helpers import audit_events, unverified_claims


def _email() -> str:
    return f"u-{uuid.uuid4().hex[:10]}@example.com"


async def test_register_returns_the_user_without_secrets(client):
    email = f"Mixed.{uuid.uuid4().hex[:6]}@Example.COM"
    r = await client.post("/auth/register", json={"email": email, "password": "orchard-lantern-river", "name": "Ada  Lovelace"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == email.lower()
    assert body["name"] == "Ada Lovelace"
    assert body["role"] == "customer" and body["is_active"] is True and body["mfa_enabled"] is False
    assert not {"password", "password_hash", "email_ciphertext", "email_blind_index"} & set(body)


async def test_register_conflict_is_case_insensitive(client, api):
    created = await api.register()
    r = await client.post("/auth/register", json={"email": created["email"].upper(), "password": "orchard-lantern-other", "name": "X"})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_register_refuses_weak_and_invalid_input(client):
    cases = [
        {"email": _email(), "password": "short", "name": "A"},  # too short
        {"email": _email(), "password": "x" * 129, "name": "A"},  # too long
        {"email": _email(), "password": "Password2024!", "name": "A"},  # common
        {"email": _email(), "password": "qwertyuiop123", "name": "A"},  # common keyboard walk
        {"email": "not-an-email", "password": "orchard-lantern-river", "name": "A"},
        {"email": _email(), "password": "orchard-lantern-river", "name": ""},
        {"email": _email(), "password": "orchard-lantern-river"},  # missing name
    ]
    for body in cases:
        r = await client.post("/auth/register", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["status"] == 422


async def test_a_refused_password_says_what_is_accepted_and_never_echoes_it(client, api):
    # Registration and a password change answer alike: problem+json naming the field, the
    # reason and what is accepted; the password itself appears nowhere in the answer.
    for password in ("123456123456", "qwertyuiopasdfgh", "poiuytrewqlkjhgf"):
        r = await client.post("/auth/register", json={"email": _email(), "password": password, "name": "A"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert "accepted: 12 to 128 characters" in body["detail"]
        assert [(e["field"], e["type"]) for e in body["errors"]] == [("body.password", "weak_password")]
        assert password not in r.text and password[:8] not in r.text
    account = await api.user()
    r = await client.patch("/users/me", json={"password": "qwertyuiopasdfgh", "current_password": account.password},
                           headers=account.headers)
    assert r.status_code == 422 and "accepted: 12 to 128 characters" in r.json()["detail"]
    assert "qwertyui" not in r.text


async def test_register_refuses_password_containing_the_email_name(client):
    r = await client.post("/auth/register", json={"email": "margarethamilton@example.com", "password": "margarethamilton-1969", "name": "M"})
    assert r.status_code == 422
    assert "email" in r.json()["detail"]


async def test_register_refuses_mass_assignment(client):
    for extra in ({"role": "admin"}, {"id": str(uuid.uuid4())}, {"is_active": False}):
        r = await client.post("/auth/register", json={"email": _email(), "password": "orchard-lantern-river", "name": "A", **extra})
        assert r.status_code == 422, extra


async def test_login_returns_a_token_pair(client, api, settings):
    created = await api.register()
    r = await client.post("/auth/login", json={"email": created["email"], "password": created["password"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds == 900
    claims = unverified_claims(body["access_token"])
    assert claims["sub"] == created["id"] and claims["exp"] - claims["iat"] == 900
    assert len(body["refresh_token"]) >= 43  # 32 random bytes, base64url


async def test_unknown_email_and_wrong_password_look_the_same(client, api):
    created = await api.register()
    wrong = await client.post("/auth/login", json={"email": created["email"], "password": "orchard-lantern-wrong"})
    unknown = await client.post("/auth/login", json={"email": _email(), "password": "orchard-lantern-wrong"})
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json().items() if k != "correlation_id"}  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")


async def test_login_validation_errors(client):
    r = await client.post("/auth/login", json={"email": "a@example.com"})
    assert r.status_code == 422
    r = await client.post("/auth/login", json={"email": "a@example.com", "password": "x", "remember": True})
    assert r.status_code == 422


async def test_refresh_rotates_and_the_old_token_dies(client, api):
    account = await api.user()
    r = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != account.refresh_token
    assert pair["token_type"] == "bearer"
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    # The child is used, so the old token is now a replay.
    assert (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 401


async def test_replaying_a_used_refresh_token_revokes_the_whole_family(client, api, postgres_server, database_name):
    account = await api.user()
    first = (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).json()
    second = (await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    newest = (await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).json()
    # Replay of the first child, whose own child was already used: theft.
    r = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    # The newest token of the family dies too, and so do access tokens of the session.
    assert (await client.post("/auth/refresh", json={"refresh_token": newest["refresh_token"]})).status_code == 401
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {newest['access_token']}"})
    assert me.status_code == 401
    assert "auth.refresh.reuse_detected|failure" in await audit_events(postgres_server, database_name)
    # Other sessions of the user are untouched.
    other = await api.login(account.email, account.password)
    assert (await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 200


async def test_a_retried_parent_succeeds_until_its_child_is_used(client, api):
    account = await api.user()
    lost = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert lost.status_code == 200  # pretend this response never reached the client
    retry = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert retry.status_code == 200, retry.text
    child = retry.json()
    # The child is used now; from here on the parent is a replay.
    assert (await client.post("/auth/refresh", json={"refresh_token": child["refresh_token"]})).status_code == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 401


async def test_a_superseded_child_is_a_replay(client, api):
    account = await api.user()
    lost = (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).json()
    retry = (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).json()
    # Whoever holds the response the client never received is not the client.
    assert (await client.post("/auth/refresh", json={"refresh_token": lost["refresh_token"]})).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": retry["refresh_token"]})).status_code == 401


async def test_refresh_rejects_unknown_and_malformed_tokens(client):
    assert (await client.post("/auth/refresh", json={"refresh_token": "nope"})).status_code == 401
    assert (await client.post("/auth/refresh", json={})).status_code == 422
    assert (await client.post("/auth/refresh", json={"refresh_token": "x" * 300})).status_code == 422


async def test_logout_revokes_the_family(client, api, postgres_server, database_name):
    account = await api.user()
    r = await client.post("/auth/logout", json={"refresh_token": account.refresh_token})
    assert r.status_code == 204 and r.content == b""
    assert (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 401
    assert (await client.get("/users/me", headers=account.headers)).status_code == 401
    # Logging out again is harmless; an unknown token is not the holder's.
    assert (await client.post("/auth/logout", json={"refresh_token": account.refresh_token})).status_code == 204
    assert (await client.post("/auth/logout", json={"refresh_token": "unknown"})).status_code == 401
    assert "auth.logout|success" in await audit_events(postgres_server, database_name, account.id)


async def test_refresh_after_logout_of_a_rotated_family(client, api):
    account = await api.user()
    child = (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).json()
    assert (await client.post("/auth/logout", json={"refresh_token": child["refresh_token"]})).status_code == 204
    assert (await client.post("/auth/refresh", json={"refresh_token": child["refresh_token"]})).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 401


async def test_jwks_lists_the_active_key(client, settings):
    r = await client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    keys = r.json()["keys"]
    token = (await client.post("/auth/register", json={"email": _email(), "password": "orchard-lantern-river", "name": "A"}))
    assert token.status_code == 201
    import json
    doc = json.loads(settings.jwt_keyset_file.read_text())
    assert [k["kid"] for k in keys] == [doc["active_kid"]]
    assert keys[0]["alg"] == "EdDSA" and keys[0]["kty"] == "OKP" and keys[0]["use"] == "sig"
    assert "d" not in keys[0]  # never the private part


async def test_login_and_failure_are_audited_with_the_correlation_id(client, api, postgres_server, database_name):
    created = await api.register()
    r = await client.post("/auth/login", json={"email": created["email"], "password": "orchard-lantern-wrong"},
                          headers={"X-Request-ID": "audit-check-0001"})
    assert r.status_code == 401
    ok = await client.post("/auth/login", json={"email": created["email"], "password": created["password"]})
    assert ok.status_code == 200
    rows = await postgres_server_rows(postgres_server, database_name, created["id"])
    assert ("auth.login.failure", "failure", "audit-check-0001", "203.0.113.10") in rows
    assert any(row[0] == "auth.login.success" and row[2] == ok.headers["x-request-id"] for row in rows)


async def postgres_server_rows(postgres_server, database, subject_id):
    import asyncio

    out = await asyncio.to_thread(
        postgres_server.psql,
        f"SELECT event, outcome, correlation_id, ip FROM audit_log WHERE subject_id = '{subject_id}' ORDER BY created_at",
        database,
    )
    return [tuple(line.split("|")) for line in out.splitlines() if line]


async def test_login_rehashes_when_the_argon2_cost_rises(app_with, api, postgres_server, database_name):
    created = await api.register()

    def stored_hash() -> str:
        return postgres_server.psql(f"SELECT password_hash FROM users WHERE id = '{created['id']}'", database_name)

    import asyncio

    assert "$m=19456,t=2,p=1$" in await asyncio.to_thread(stored_hash)
    async with app_with(argon2_time_cost=3) as stronger:
        r = await stronger.post("/auth/login", json={"email": created["email"], "password": created["password"]})
        assert r.status_code == 200
    assert "$m=19456,t=3,p=1$" in await asyncio.to_thread(stored_hash)


async def test_unknown_email_and_wrong_password_take_similar_time(app_with, api):
    import statistics
    import time

    created = await api.register()
    async with app_with(login_max_failures_per_account_ip=1000, login_max_failures_per_account=1000,
                        login_max_failures_per_ip=1000) as client:
        timings: dict[str, list[float]] = {"wrong": [], "unknown": []}
        for _ in range(6):
            for kind, email in (("wrong", created["email"]), ("unknown", _email())):
                start = time.perf_counter()
                r = await client.post("/auth/login", json={"email": email, "password": "orchard-lantern-wrong"})
                timings[kind].append(time.perf_counter() - start)
                assert r.status_code == 401
    wrong, unknown = statistics.median(timings["wrong"]), statistics.median(timings["unknown"])
    # Both run one argon2 verification; without the dummy hash the unknown path would be
    # an order of magnitude faster. Generous bounds keep a busy machine from failing this.
    assert 0.5 < wrong / unknown < 2.0, timings


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_signups_and_logins_are_counted_in_metrics(client, api):
    before = (await client.get("/metrics")).text
    created = await api.register()
    await api.login(created["email"], created["password"])
    await client.post("/auth/login", json={"email": created["email"], "password": "orchard-lantern-wrong"})
    after = (await client.get("/metrics")).text
    assert _metric(after, "storefront_signups_total") == _metric(before, "storefront_signups_total") + 1
    for result in ("success", "failure"):
        name = f'storefront_logins_total{{result="{result}"}}'
        assert _metric(after, name) == _metric(before, name) + 1, result


async def test_audit_events_also_go_to_the_log_stream(client, api, caplog):
    import logging

    created = await api.register()
    with caplog.at_level(logging.INFO, logger="storefront.audit"):
        r = await client.post("/auth/login", json={"email": created["email"], "password": created["password"]},
                              headers={"X-Request-ID": "audit-stream-0001"})
    assert r.status_code == 200
    [record] = [rec for rec in caplog.records if rec.name == "storefront.audit"]
    assert record.audit_event == "auth.login.success" and record.correlation_id == "audit-stream-0001"
    assert record.actor_id == created["id"] and record.client_ip == "203.0.113.10"
    assert created["password"] not in record.getMessage() and created["email"] not in str(record.__dict__)
