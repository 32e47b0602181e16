"""The webhook delivery loop: claims due deliveries (leases in PostgreSQL), sends up to
``webhook_concurrency`` at once, records each outcome and its metrics."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import tracing
from app.core.config import Settings
from app.core.security.crypto import PiiCipher
from app.services import ssrf, webhook_delivery
from app.worker.backoff import Backoff, is_transient
from app.worker.metrics import WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_SECONDS

log = logging.getLogger("storefront.worker.deliveries")

# On SIGTERM, attempts in flight get this long to finish; the rest are given back by their lease.
DRAIN_SECONDS = 20.0


def policy_of(settings: Settings) -> webhook_delivery.Policy:
    return webhook_delivery.Policy(settings.webhook_max_attempts, settings.webhook_backoff_base_seconds,
                                   settings.webhook_backoff_max_seconds, settings.webhook_timeout_seconds)


async def run_deliveries(sessionmaker: async_sessionmaker[AsyncSession], cipher: PiiCipher, settings: Settings,
                         stop: asyncio.Event, wake: asyncio.Event) -> None:
    policy = policy_of(settings)
    targets = ssrf.TargetPolicy.of(settings)
    poll = min(1.0, settings.outbox_poll_interval_seconds * 5)
    backoff = Backoff("deliveries", log)
    in_flight: set[asyncio.Task] = set()
    async with webhook_delivery.client(settings.webhook_timeout_seconds) as http:
        async def attempt(claimed: webhook_delivery.Claimed) -> None:
            try:
                if not tracing.enabled():
                    outcome = await webhook_delivery.deliver(sessionmaker, http, cipher, targets, policy, claimed)
                else:  # a child of the span that wrote the event (the request's): its outbound call too
                    with tracing.continued(claimed.traceparent, "webhook.deliver", **{
                            "storefront.event.id": str(claimed.event_id), "storefront.event.type": claimed.event_type,
                            "storefront.webhook.delivery_id": str(claimed.id),
                            "storefront.webhook.attempt": claimed.attempt}):
                        outcome = await webhook_delivery.deliver(sessionmaker, http, cipher, targets, policy, claimed)
            except Exception as exc:  # noqa: BLE001 - the database went away mid-attempt: the lease gives it back
                log.warning("delivery %s: could not record the attempt: %s", claimed.id, type(exc).__name__)
                return
            WEBHOOK_DELIVERIES.labels(outcome.outcome).inc()
            WEBHOOK_DELIVERY_SECONDS.observe(outcome.seconds)
            if outcome.outcome == "dead_lettered":
                log.error("webhook delivery %s of event %s dead-lettered after %d attempts (last: %s)",
                          claimed.id, claimed.event_id, claimed.attempt, outcome.status_code)

        while not stop.is_set():
            wake.clear()
            free = settings.webhook_concurrency - len(in_flight)
            claimed: list[webhook_delivery.Claimed] = []
            if free > 0:
                try:
                    claimed = await webhook_delivery.claim_due(sessionmaker, limit=free, policy=policy)
                except Exception as exc:
                    if not is_transient(exc):
                        log.exception("claiming deliveries failed")
                    await backoff.failed(exc, stop)
                    continue
                backoff.ok()
            for item in claimed:
                task = asyncio.get_running_loop().create_task(attempt(item))
                in_flight.add(task)
                task.add_done_callback(lambda t: (in_flight.discard(t), wake.set()))
            if claimed and len(claimed) == free:
                await asyncio.sleep(0)  # more may be due: claim again once a slot is free
                if len(in_flight) >= settings.webhook_concurrency:
                    await _wait_any(wake, stop, poll)
                continue
            await _wait_any(wake, stop, poll)
        if in_flight:
            done, pending = await asyncio.wait(in_flight, timeout=DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    if stop.is_set():
        return
    waiter = asyncio.ensure_future(wake.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()



