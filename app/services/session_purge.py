"""Deleting ended sessions: refresh-token families (and, by cascade, their tokens) whose
absolute lifetime ended more than the retention ago.

Nothing that still matters is lost: a token of an ended family is refused as expired before any
reuse check, so its rows only grow the tables and their indexes. The retention keeps recent
ones around for investigations; the audit log keeps the security events for good.

Every replica runs the purge on a timer. A transaction-level advisory lock lets one of them
work at a time (the others skip that round), and each batch is its own short transaction
that skips rows a concurrent logout or refresh holds, so the purge never stalls the auth path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.metrics import SESSIONS_PURGED
from app.models.refresh_token import RefreshTokenFamily

log = logging.getLogger(__name__)

# pg advisory lock key shared by every replica: "sfpurge" as a number.
PURGE_LOCK_KEY = 0x7366_7075_7267_65
BATCH_SIZE = 1000


async def purge_ended_sessions(sessionmaker: async_sessionmaker[AsyncSession], *, retention_seconds: int,
                               batch_size: int = BATCH_SIZE, now: dt.datetime | None = None) -> int | None:
    """Deletes families that ended before now - retention, batch by batch. Returns how many,
    or None when another process holds the purge lock (it is doing the same work)."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=retention_seconds)
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(PURGE_LOCK_KEY))):
                return None if total == 0 else total
            batch = (select(RefreshTokenFamily.id)
                     .where(RefreshTokenFamily.expires_at < cutoff)
                     .limit(batch_size)
                     .with_for_update(skip_locked=True))
            deleted = (await session.execute(
                delete(RefreshTokenFamily).where(RefreshTokenFamily.id.in_(batch.scalar_subquery()))
            )).rowcount
        total += deleted
        SESSIONS_PURGED.inc(deleted)
        if deleted < batch_size:
            return total


class SessionPurger:
    """Runs the purge every ``interval_seconds`` in the background of an app process."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, interval_seconds: float,
                 retention_seconds: int):
        self.sessionmaker = sessionmaker
        self.interval = interval_seconds
        self.retention = retention_seconds
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="session-purge")

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
                deleted = await purge_ended_sessions(self.sessionmaker, retention_seconds=self.retention)
                if deleted:
                    log.info("purged ended sessions", extra={"sessions_purged": deleted})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again next round
                log.warning("session purge failed: %s", type(exc).__name__)
            await asyncio.sleep(self.interval)
