"""Identity state on a Redis cluster, and refresh-token lifetimes enforced from PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest


@pytest.mark.slow
async def test_sessions_and_throttle_work_on_a_redis_cluster(app_with, redis_cluster_factory):
    cluster = redis_cluster_factory(3)
    await asyncio.to_thread(cluster.form)
    nodes = ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes)
    async with app_with(redis_mode="cluster", redis_cluster_nodes=nodes, login_max_failures_per_account_ip=2,
                        login_lockout_base_seconds=5) as client:
        r = await client.post("/auth/register", json={"email": "cluster-user@example.com", "password": "orchard-lantern-river", "name": "C"})
        assert r.status_code == 201, r.text
        pair = (await client.post("/auth/login", json={"email": "cluster-user@example.com", "password": "orchard-lantern-river"})).json()
        headers = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await client.get("/users/me", headers=headers)).status_code == 200
        assert (await client.get("/users/me", headers=headers)).status_code == 200  # from the cache
        assert (await client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})).status_code == 204
        assert (await client.get("/users/me", headers=headers)).status_code == 401
        for _ in range(2):
            r = await client.post("/auth/login", json={"email": "cluster-user@example.com", "password": "orchard-lantern-wrong"})
            assert r.status_code == 401
        r = await client.post("/auth/login", json={"email": "cluster-user@example.com", "password": "orchard-lantern-river"})
        assert r.status_code == 429 and r.headers["retry-after"]


async def test_expired_and_idle_refresh_tokens_are_refused(client, api, postgres_server, database_name):
    idle = await api.user()
    await asyncio.to_thread(postgres_server.psql,
                            f"UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE user_id = '{idle.id}'",
                            database_name)
    r = await client.post("/auth/refresh", json={"refresh_token": idle.refresh_token})
    assert r.status_code == 401 and "expired" in r.json()["detail"]

    old = await api.user()
    await asyncio.to_thread(postgres_server.psql,
                            f"UPDATE refresh_token_families SET expires_at = now() - interval '1 second' WHERE user_id = '{old.id}'",
                            database_name)
    assert (await client.post("/auth/refresh", json={"refresh_token": old.refresh_token})).status_code == 401


async def test_new_tokens_never_outlive_their_family(client, api, postgres_server, database_name, settings):
    account = await api.user()
    assert (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 200
    out = await asyncio.to_thread(
        postgres_server.psql,
        "SELECT bool_and(t.expires_at <= f.expires_at), "
        f"bool_and(t.expires_at <= t.created_at + interval '{settings.refresh_token_idle_seconds + 5} seconds'), "
        "count(*), count(t.used_at) FROM refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id "
        f"WHERE t.user_id = '{account.id}'",
        database_name,
    )
    # Both tokens end no later than the family and (give or take clock reads) their idle limit.
    assert out == "t|t|2|1"
