"""Retention: deleting what the platform no longer needs to keep.

- Ended sessions: refresh-token families (and, by cascade, their tokens) whose absolute
  lifetime ended more than the session retention ago. Nothing that still matters is lost: a
  token of an ended family is refused as expired before any reuse check, so its rows only grow
  the tables and their indexes.
- Audit events older than the audit retention (0 keeps them for good): they carry client IPs
  and account ids, personal data that should not be kept longer than investigations need.
- Finished webhook deliveries (succeeded or dead-lettered) older than their retention (0 keeps
  them): each holds the event's body, one row per endpoint and event, so they are the fastest
  growing table. Pending ones are never touched.

Every replica runs the purge on a timer. A transaction-level advisory lock lets one of them
work at a time (the others skip that round), and each batch is its own short transaction
that skips rows another transaction holds, so the purge never stalls the request path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.metrics import RETENTION_PURGED
from app.models.audit import AuditLog
from app.models.refresh_token import RefreshTokenFamily
from app.models.webhook import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# pg advisory lock key shared by every replica: "sfpurge" as a number.
PURGE_LOCK_KEY = 0x7366_7075_7267_65
BATCH_SIZE = 1000


@dataclass(frozen=True)
class RetentionPolicy:
    session_retention_seconds: int
    audit_retention_days: int  # 0: keep audit events for good
    webhook_delivery_retention_days: int  # 0: keep finished deliveries for good

    @classmethod
    def of(cls, settings: Settings) -> RetentionPolicy:
        return cls(settings.session_retention_seconds, settings.audit_retention_days,
                   settings.webhook_delivery_retention_days)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _purge_in_batches(sessionmaker: async_sessionmaker[AsyncSession], model: type, kind: str,
                            batch: Callable[[int], Select], batch_size: int) -> int | None:
    """Deletes the rows ``batch(n)`` selects, n at a time, each batch under the purge lock.
    Returns how many, or None when another process holds the lock (it does the same work)."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(PURGE_LOCK_KEY))):
                return total or None
            ids = batch(batch_size).with_for_update(skip_locked=True).scalar_subquery()
            deleted = (await session.execute(delete(model).where(model.id.in_(ids)))).rowcount
        total += deleted
        RETENTION_PURGED.labels(kind).inc(deleted)
        if deleted < batch_size:
            return total


async def purge_ended_sessions(sessionmaker: async_sessionmaker[AsyncSession], *, retention_seconds: int,
                               batch_size: int = BATCH_SIZE, now: dt.datetime | None = None) -> int | None:
    """Families that ended before now - retention, with their tokens."""
    cutoff = (now or _now()) - dt.timedelta(seconds=retention_seconds)
    return await _purge_in_batches(
        sessionmaker, RefreshTokenFamily, "sessions",
        lambda n: select(RefreshTokenFamily.id).where(RefreshTokenFamily.expires_at < cutoff).limit(n), batch_size)


async def purge_old_audit_events(sessionmaker: async_sessionmaker[AsyncSession], *, retention_days: int,
                                 batch_size: int = BATCH_SIZE, now: dt.datetime | None = None) -> int | None:
    """Audit events recorded before now - retention; none when the retention is 0 (keep)."""
    if retention_days <= 0:
        return 0
    cutoff = (now or _now()) - dt.timedelta(days=retention_days)
    return await _purge_in_batches(
        sessionmaker, AuditLog, "audit_events",
        lambda n: select(AuditLog.id).where(AuditLog.created_at < cutoff).limit(n), batch_size)


async def purge_old_webhook_deliveries(sessionmaker: async_sessionmaker[AsyncSession], *, retention_days: int,
                                       batch_size: int = BATCH_SIZE, now: dt.datetime | None = None) -> int | None:
    """Succeeded and dead-lettered deliveries created before now - retention; none when the
    retention is 0 (keep). Endpoint by endpoint, so each batch is found through the
    (endpoint_id, created_at) index rather than by scanning the table."""
    if retention_days <= 0:
        return 0
    cutoff = (now or _now()) - dt.timedelta(days=retention_days)
    async with sessionmaker() as session:
        endpoints = list(await session.scalars(select(WebhookEndpoint.id)))
    total = 0
    for endpoint_id in endpoints:
        purged = await _purge_in_batches(
            sessionmaker, WebhookDelivery, "webhook_deliveries",
            lambda n, endpoint_id=endpoint_id: select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.created_at < cutoff,
                WebhookDelivery.status != "pending").limit(n),
            batch_size)
        if purged is None:
            return total or None
        total += purged
    return total


async def purge_expired(sessionmaker: async_sessionmaker[AsyncSession], policy: RetentionPolicy) -> dict[str, int] | None:
    """One round of every purge; None when another process is doing it."""
    sessions = await purge_ended_sessions(sessionmaker, retention_seconds=policy.session_retention_seconds)
    if sessions is None:
        return None
    audit = await purge_old_audit_events(sessionmaker, retention_days=policy.audit_retention_days)
    deliveries = await purge_old_webhook_deliveries(sessionmaker,
                                                    retention_days=policy.webhook_delivery_retention_days)
    return {"sessions": sessions, "audit_events": audit or 0, "webhook_deliveries": deliveries or 0}


class RetentionPurger:
    """Runs ``purge_expired`` every ``interval_seconds`` in the background of an app process."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], policy: RetentionPolicy, *,
                 interval_seconds: float):
        self.sessionmaker = sessionmaker
        self.policy = policy
        self.interval = interval_seconds
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="retention-purge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        # Replicas started together should not all try at the same moment.
        await asyncio.sleep(random.uniform(0.1, 1.0) * self.interval)  # noqa: S311 - jitter, not a secret
        while True:
            try:
                purged = await purge_expired(self.sessionmaker, self.policy)
                if purged and any(purged.values()):
                    log.info("purged expired data", extra={"purged": purged})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again next round
                log.warning("retention purge failed: %s", type(exc).__name__)
            await asyncio.sleep(self.interval)
