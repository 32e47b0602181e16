"""Redis holds only hot state: flushing it or stopping it never revives a dead session."""

from __future__ import annotations

import redis


def _flushall(redis_server) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    try:
        client.flushall()
    finally:
        client.close()


async def test_revoked_and_used_tokens_stay_dead_after_flushall(client, api, redis_server):
    logged_out = await api.user()
    assert (await client.get("/users/me", headers=logged_out.headers)).status_code == 200  # caches "live"
    assert (await client.post("/auth/logout", json={"refresh_token": logged_out.refresh_token})).status_code == 204
    rotated = await api.user()
    child = (await client.post("/auth/refresh", json={"refresh_token": rotated.refresh_token})).json()
    assert (await client.post("/auth/refresh", json={"refresh_token": child["refresh_token"]})).status_code == 200
    healthy = await api.user()

    _flushall(redis_server)

    assert (await client.post("/auth/refresh", json={"refresh_token": logged_out.refresh_token})).status_code == 401
    assert (await client.get("/users/me", headers=logged_out.headers)).status_code == 401
    # A used parent whose child was used is still a replay.
    assert (await client.post("/auth/refresh", json={"refresh_token": rotated.refresh_token})).status_code == 401
    # Live sessions keep working from PostgreSQL.
    assert (await client.get("/users/me", headers=healthy.headers)).status_code == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": healthy.refresh_token})).status_code == 200


async def test_auth_keeps_working_while_redis_is_down(client, api, redis_server):
    alive = await api.user()
    ended = await api.user()
    assert (await client.post("/auth/logout", json={"refresh_token": ended.refresh_token})).status_code == 204
    redis_server.stop()
    try:
        # Logins, token checks and refreshes fall back to PostgreSQL: no 500s.
        r = await client.post("/auth/login", json={"email": alive.email, "password": alive.password})
        assert r.status_code == 200, r.text
        fresh = r.json()
        assert (await client.get("/users/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})).status_code == 200
        assert (await client.get("/users/me", headers=alive.headers)).status_code == 200
        assert (await client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})).status_code == 200
        # Dead sessions stay dead.
        assert (await client.get("/users/me", headers=ended.headers)).status_code == 401
        assert (await client.post("/auth/refresh", json={"refresh_token": ended.refresh_token})).status_code == 401
        r = await client.post("/auth/logout", json={"refresh_token": alive.refresh_token})
        assert r.status_code == 204
        assert (await client.get("/users/me", headers=alive.headers)).status_code == 401
        wrong = await client.post("/auth/login", json={"email": alive.email, "password": "orchard-lantern-wrong"})
        assert wrong.status_code == 401
    finally:
        redis_server.start()
    # And once Redis is back, everything goes on without a restart.
    r = await client.post("/auth/login", json={"email": alive.email, "password": alive.password})
    assert r.status_code == 200
    assert (await client.get("/users/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})).status_code == 200
    assert (await client.get("/users/me", headers=alive.headers)).status_code == 401
