"""Retention of webhook deliveries: finished ones (succeeded, dead-lettered) older than their
retention go, endpoint by endpoint; pending ones and recent ones stay; 0 keeps everything."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from app.services.retention import purge_old_webhook_deliveries


async def _endpoint(sessionmaker) -> uuid.UUID:
    endpoint_id = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        await session.execute(text(
            "INSERT INTO webhook_endpoints (id, url, events, secret_ciphertext) "
            "VALUES (:id, 'http://127.0.0.1:9/x', ARRAY['order.placed'], '\\x00')"), {"id": endpoint_id})
    return endpoint_id


async def _deliveries(sessionmaker, endpoint_id: uuid.UUID, status: str, age_days: int, n: int) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(text(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body, status, event_created_at, "
            "created_at) SELECT gen_random_uuid(), :endpoint, gen_random_uuid(), 'order.placed', '{}'::jsonb, "
            ":status, now() - make_interval(days => :age), now() - make_interval(days => :age) "
            "FROM generate_series(1, :n)"),
            {"endpoint": endpoint_id, "status": status, "age": age_days, "n": n})


async def _count(sessionmaker, where: str) -> int:
    async with sessionmaker() as session:
        return (await session.execute(text(f"SELECT count(*) FROM webhook_deliveries WHERE {where}"))).scalar_one()


async def test_finished_deliveries_older_than_their_retention_go(sessionmaker):
    first, second = await _endpoint(sessionmaker), await _endpoint(sessionmaker)
    for endpoint in (first, second):
        await _deliveries(sessionmaker, endpoint, "succeeded", 40, 4)
        await _deliveries(sessionmaker, endpoint, "dead_lettered", 40, 1)
        await _deliveries(sessionmaker, endpoint, "pending", 40, 2)  # still being retried: kept
        await _deliveries(sessionmaker, endpoint, "succeeded", 1, 3)
    mine = f"endpoint_id IN ('{first}', '{second}')"

    assert await purge_old_webhook_deliveries(sessionmaker, retention_days=0) == 0
    assert await _count(sessionmaker, mine) == 20
    assert await purge_old_webhook_deliveries(sessionmaker, retention_days=30, batch_size=2) == 10
    assert await _count(sessionmaker, f"{mine} AND created_at < now() - interval '30 days'") == 4
    assert await _count(sessionmaker, f"{mine} AND status = 'pending'") == 4
    assert await _count(sessionmaker, f"{mine} AND created_at > now() - interval '2 days'") == 6
    assert await purge_old_webhook_deliveries(sessionmaker, retention_days=30) == 0
