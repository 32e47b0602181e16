"""The harness's PostgreSQL and Redis are real servers, used for real."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from storefront_harness import RedisCluster


async def test_sql_round_trip_through_sqlalchemy_async(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE smoke (id serial PRIMARY KEY, note text NOT NULL)"))
            await conn.execute(text("INSERT INTO smoke (note) VALUES (:n)"), {"n": "hello"})
        async with engine.connect() as conn:
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            note = (await conn.execute(text("SELECT note FROM smoke"))).scalar_one()
        assert note == "hello"
        assert int(version.split(".")[0]) >= 13
    finally:
        await engine.dispose()


async def test_redis_round_trip(redis_server) -> None:
    client = aioredis.from_url(redis_server.url)
    try:
        await client.set("smoke", "value", ex=30)
        assert await client.get("smoke") == b"value"
        assert (await client.info("server"))["redis_mode"] == "standalone"
    finally:
        await client.aclose()


def test_three_node_cluster_forms_and_answers(redis_cluster_factory) -> None:
    cluster: RedisCluster = redis_cluster_factory(3)
    # Started nodes are not joined yet: that is the operator's job, so they start "fail".
    assert "cluster_state:fail" in cluster.cluster_info(cluster.nodes[0])
    cluster.form()
    info = cluster.cluster_info(cluster.nodes[0])
    assert "cluster_state:ok" in info
    assert "cluster_known_nodes:3" in info
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    try:
        for i in range(20):
            client.set(f"key-{i}", i)
        assert [int(client.get(f"key-{i}")) for i in range(20)] == list(range(20))
    finally:
        client.close()


def test_postgres_restarts_on_the_same_port_and_keeps_data(postgres_server, database_factory) -> None:
    url = database_factory()
    name = url.rsplit("/", 1)[1]
    postgres_server.psql("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)", name)
    port = postgres_server.port
    postgres_server.stop()
    assert not postgres_server.running
    postgres_server.start()
    assert postgres_server.port == port
    assert postgres_server.psql("SELECT v FROM kept", name) == "42"


async def test_a_standby_streams_from_its_primary_and_refuses_writes(postgres_pair) -> None:
    primary, standby = postgres_pair
    primary.psql("CREATE TABLE IF NOT EXISTS replicated (v int); INSERT INTO replicated VALUES (7)", "storefront")
    standby.wait_caught_up()
    assert standby.psql("SELECT pg_is_in_recovery()") == "t"
    engine = create_async_engine(standby.url("storefront"))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT sum(v) FROM replicated"))).scalar_one() == 7
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await conn.execute(text("INSERT INTO replicated VALUES (8)"))
    finally:
        await engine.dispose()

    standby.pause_replay()
    try:
        primary.psql("INSERT INTO replicated VALUES (1)", "storefront")
        assert standby.psql("SELECT sum(v) FROM replicated", "storefront") == "7"  # paused: not replayed yet
    finally:
        standby.resume_replay()
    standby.wait_caught_up()
    assert standby.psql("SELECT sum(v) FROM replicated", "storefront") == "8"
