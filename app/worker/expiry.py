"""Periodic chores: expiring orders left pending past their time, and purging handled outbox rows."""

from __future__ import annotations

import asyncio
import logging
import random

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.services import order_expiry, outbox
from app.worker.backoff import Backoff, is_transient, wait
from app.worker.metrics import ORDERS_EXPIRED

log = logging.getLogger("storefront.worker.expiry")


async def run_expiry(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event) -> None:
    interval = settings.order_expiry_interval_seconds
    backoff = Backoff("expiry", log)
    # Workers started together should not all sweep at the same moment.
    await wait(stop, random.uniform(0, min(interval, 5.0)))  # noqa: S311 - jitter
    while not stop.is_set():
        try:
            if settings.order_pending_ttl_seconds > 0:
                expired = await order_expiry.expire_all(sessionmaker, ttl_seconds=settings.order_pending_ttl_seconds)
                if expired:
                    ORDERS_EXPIRED.inc(expired)
                    log.info("expired %d pending orders", expired)
            purged = await outbox.purge_handled(sessionmaker, retention_seconds=settings.outbox_retention_seconds)
            if purged:
                log.info("purged %d handled outbox events", purged)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("expiry round failed")
            await backoff.failed(exc, stop)
            continue
        backoff.ok()
        await wait(stop, interval)
