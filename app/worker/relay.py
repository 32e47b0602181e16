"""The relay loop: outbox → stream, in every worker (one at a time, see services.outbox)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.redis import RedisClient
from app.services import outbox
from app.worker.backoff import Backoff, is_transient, wait
from app.worker.metrics import OUTBOX_RELAYED

log = logging.getLogger("storefront.worker.relay")


async def run_relay(sessionmaker: async_sessionmaker[AsyncSession], redis: RedisClient, settings: Settings,
                    stop: asyncio.Event) -> None:
    backoff = Backoff("relay", log)
    while not stop.is_set():
        try:
            sent = await outbox.relay_once(sessionmaker, redis, batch_size=settings.outbox_batch_size,
                                           max_undelivered=settings.queue_max_undelivered)
        except Exception as exc:
            if not is_transient(exc):
                log.exception("relay round failed")
            await backoff.failed(exc, stop)
            continue
        backoff.ok()
        if sent:
            OUTBOX_RELAYED.inc(sent)
        if not sent or sent < settings.outbox_batch_size:
            await wait(stop, settings.outbox_poll_interval_seconds)
