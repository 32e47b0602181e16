"""Retention: refresh-token families past their end plus the retention go, with their tokens,
while live ones stay usable; audit events older than their retention go; one process purges at
a time; the app runs the purge on a timer."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.main import create_app
from app.services.retention import PURGE_LOCK_KEY, purge_ended_sessions, purge_old_audit_events
from storefront_harness.polling import wait_for_async


@pytest.fixture
async def sessionmaker(settings):
    engine = create_async_engine(settings.database_url.get_secret_value())
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _count(sessionmaker, table: str, where: str = "true") -> int:
    async with sessionmaker() as session:
        return (await session.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"))).scalar_one()


async def _end_family_of(sessionmaker, refresh_token_owner: str, ended: str) -> None:
    """Moves the end of every session of that user ``ended`` into the past (e.g. '10 days')."""
    async with sessionmaker() as session, session.begin():
        await session.execute(text(
            f"UPDATE refresh_token_families SET expires_at = now() - interval '{ended}' WHERE user_id = :u"
        ), {"u": refresh_token_owner})


async def test_ended_sessions_go_with_their_tokens_and_live_ones_keep_working(client, api, sessionmaker):
    ended, live = await api.user(), await api.user()
    r = await client.post("/auth/refresh", json={"refresh_token": ended.refresh_token})
    assert r.status_code == 200  # the ended session has a chain of two tokens
    await _end_family_of(sessionmaker, ended.id, "10 days")
    await _end_family_of(sessionmaker, live.id, "-1 day")  # still a day to go

    assert await purge_ended_sessions(sessionmaker, retention_seconds=7 * 24 * 3600) == 1
    assert await _count(sessionmaker, "refresh_token_families", f"user_id = '{ended.id}'") == 0
    assert await _count(sessionmaker, "refresh_tokens", f"user_id = '{ended.id}'") == 0
    assert await _count(sessionmaker, "audit_log", f"actor_id = '{ended.id}'") > 0  # the record stays

    r = await client.post("/auth/refresh", json={"refresh_token": live.refresh_token})
    assert r.status_code == 200, r.text
    assert await purge_ended_sessions(sessionmaker, retention_seconds=0) == 0


async def test_within_the_retention_an_ended_session_is_kept(client, api, sessionmaker):
    user = await api.user()
    await _end_family_of(sessionmaker, user.id, "1 hour")
    assert await purge_ended_sessions(sessionmaker, retention_seconds=24 * 3600) == 0
    assert await purge_ended_sessions(sessionmaker, retention_seconds=0) == 1


async def test_large_backlogs_go_in_batches(sessionmaker, api):
    user = await api.user()
    async with sessionmaker() as session, session.begin():
        await session.execute(text(
            "INSERT INTO refresh_token_families (id, user_id, expires_at) "
            "SELECT gen_random_uuid(), :u, now() - interval '30 days' FROM generate_series(1, 25)"
        ), {"u": user.id})
    assert await purge_ended_sessions(sessionmaker, retention_seconds=0, batch_size=4) == 25
    assert await _count(sessionmaker, "refresh_token_families", "expires_at < now()") == 0


async def test_one_process_purges_at_a_time(sessionmaker, api):
    user = await api.user()
    await _end_family_of(sessionmaker, user.id, "30 days")
    async with sessionmaker() as other, other.begin():
        assert await other.scalar(select(func.pg_try_advisory_xact_lock(PURGE_LOCK_KEY)))
        # Another replica holds the lock: this one skips the round and deletes nothing.
        assert await purge_ended_sessions(sessionmaker, retention_seconds=0) is None
        assert await _count(sessionmaker, "refresh_token_families", f"user_id = '{user.id}'") == 1
    assert await purge_ended_sessions(sessionmaker, retention_seconds=0) == 1


async def test_audit_events_older_than_their_retention_go(sessionmaker, api):
    user = await api.user()  # its registration and login are audited now
    async with sessionmaker() as session, session.begin():
        await session.execute(text(
            "INSERT INTO audit_log (id, created_at, event, outcome, actor_type, ip) "
            "SELECT gen_random_uuid(), now() - interval '400 days', 'auth.login.success', 'success', 'user', "
            "'198.51.100.7' FROM generate_series(1, 7)"))
    recent = await _count(sessionmaker, "audit_log", "created_at > now() - interval '1 day'")
    assert recent >= 2

    assert await purge_old_audit_events(sessionmaker, retention_days=0) == 0  # 0 keeps everything
    assert await _count(sessionmaker, "audit_log", "created_at < now() - interval '365 days'") == 7
    assert await purge_old_audit_events(sessionmaker, retention_days=365, batch_size=3) == 7
    assert await _count(sessionmaker, "audit_log", "created_at < now() - interval '365 days'") == 0
    assert await _count(sessionmaker, "audit_log", f"actor_id = '{user.id}'") > 0  # this year's stay
    assert await _count(sessionmaker, "audit_log", "true") == recent


async def test_the_app_purges_on_a_timer(settings_for, postgres_server, database_name, api_on):
    settings = settings_for(postgres_server, database_name, retention_purge_interval_seconds=0.2,
                            session_retention_seconds=0)
    app = create_app(settings)
    engine = create_async_engine(settings.database_url.get_secret_value())
    maker = async_sessionmaker(engine)
    try:
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                user = await api_on(client, postgres_server, database_name).user()
                await _end_family_of(maker, user.id, "1 minute")

                async def purged() -> bool:
                    return await _count(maker, "refresh_token_families", f"user_id = '{user.id}'") == 0

                await wait_for_async(purged, 10, message="the background purge")
                metrics = (await client.get("/metrics")).text
                assert 'storefront_retention_purged_total{kind="sessions"}' in metrics
    finally:
        await engine.dispose()
