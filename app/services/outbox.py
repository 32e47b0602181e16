"""Domain events through the transactional outbox, and the relay that moves them to the stream.

``record(session, ...)`` adds an event to the caller's transaction: it commits with the change
or not at all. Event types: ``order.placed``, ``order.cancelled``, ``order.expired`` and
``user.registered``. Payloads carry identifiers and order facts only, never personal data.

The relay (``relay_once``) runs in every worker. A transaction-level advisory lock lets one
relay work at a time (the others skip that round), so rows go to the stream in ``seq`` order,
which for one aggregate is its commit order. The XADDs happen before ``sent_at`` is committed:
a crash in between sends those rows again (at least once into the stream; the consumer's
``handled_at`` check drops the copy).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import tracing
from app.core.redis import RedisClient
from app.models.order import Order, OrderItem
from app.models.outbox import OutboxEvent
from app.services import queue

log = logging.getLogger(__name__)

ORDER_PLACED = "order.placed"
ORDER_CANCELLED = "order.cancelled"
ORDER_EXPIRED = "order.expired"
USER_REGISTERED = "user.registered"
EVENT_TYPES = (ORDER_PLACED, ORDER_CANCELLED, ORDER_EXPIRED, USER_REGISTERED)

# pg advisory lock key shared by every worker's relay: "sfrelay" as a number.
RELAY_LOCK_KEY = 0x7366_7265_6C61_79
PURGE_BATCH = 1000


async def record(session: AsyncSession, *, aggregate_type: str, aggregate_id: uuid.UUID, event_type: str,
                 payload: dict[str, Any]) -> uuid.UUID:
    """Adds the event to the session's transaction (one INSERT; the caller commits). Its
    aggregate version is one more than the aggregate's last, in the same statement."""
    event_id = uuid.uuid4()
    version = (select(func.coalesce(func.max(OutboxEvent.aggregate_version), 0) + 1)
               .where(OutboxEvent.aggregate_type == aggregate_type, OutboxEvent.aggregate_id == aggregate_id)
               .scalar_subquery())
    await session.execute(insert(OutboxEvent).values(
        id=event_id, aggregate_type=aggregate_type, aggregate_id=aggregate_id, aggregate_version=version,
        event_type=event_type, payload=payload, traceparent=_traceparent(),
    ))
    return event_id


def _traceparent() -> str | None:
    """The W3C traceparent of the current span (the request's, when tracing is on), so the
    event's handling can be joined to the trace of the change that caused it. Its sampled flag
    is the request's: an unsampled request's events are not traced by the worker either."""
    return tracing.current_traceparent()


def order_payload(order: Order, items: Iterable[OrderItem], status: str) -> dict[str, Any]:
    return {
        "order_id": str(order.id),
        "user_id": str(order.user_id),
        "status": status,
        "total": str(order.total),
        "items": [{"product_id": str(i.product_id) if i.product_id else None, "quantity": i.quantity,
                   "unit_price": str(i.unit_price)} for i in items],
    }


async def record_order_event(session: AsyncSession, order: Order, items: Iterable[OrderItem], event_type: str,
                             status: str) -> uuid.UUID:
    return await record(session, aggregate_type="order", aggregate_id=order.id, event_type=event_type,
                        payload=order_payload(order, items, status))


async def record_user_registered(session: AsyncSession, user_id: uuid.UUID, role: str) -> uuid.UUID:
    return await record(session, aggregate_type="user", aggregate_id=user_id, event_type=USER_REGISTERED,
                        payload={"user_id": str(user_id), "role": role})


# -- the relay ---------------------------------------------------------------------------------

async def relay_once(sessionmaker: async_sessionmaker[AsyncSession], redis: RedisClient, *, batch_size: int,
                     max_undelivered: int) -> int | None:
    """Moves up to ``batch_size`` unsent events to the stream. Returns how many, or None when
    another relay holds the lock or the group has ``max_undelivered`` entries waiting."""
    async with sessionmaker() as session, session.begin():
        if not await session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))):
            return None
        rows = list((await session.scalars(
            select(OutboxEvent).where(OutboxEvent.sent_at.is_(None)).order_by(OutboxEvent.seq).limit(batch_size)
        )).all())
        if not rows:
            return 0
        if await queue.ensure_group(redis):
            # The group was missing: Redis lost the stream (or this is its first use). Whatever
            # was sent and not handled is sent again, in this same transaction.
            requeued = await requeue_unhandled(session)
            if requeued:
                log.warning("queue stream was missing: %d sent but unhandled events will be relayed again", requeued)
                rows = list((await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.sent_at.is_(None)).order_by(OutboxEvent.seq)
                    .limit(batch_size))).all())
        state = await queue.group_state(redis)
        if state is not None and state.lag >= max_undelivered:
            return None
        pipe = redis.pipeline(transaction=False)
        for position, row in enumerate(rows):
            trim = {"minid": state.safe_trim_id, "approximate": True} if position == 0 and state and state.safe_trim_id \
                else {}
            pipe.xadd(queue.STREAM, queue.entry_fields(row), **trim)
        await pipe.execute()
        await session.execute(update(OutboxEvent).where(OutboxEvent.id.in_([r.id for r in rows]))
                              .values(sent_at=func.now()))
    return len(rows)


async def requeue_unhandled(session: AsyncSession) -> int:
    result = await session.execute(update(OutboxEvent)
                                   .where(OutboxEvent.sent_at.is_not(None), OutboxEvent.handled_at.is_(None))
                                   .values(sent_at=None))
    return result.rowcount or 0


async def unsent_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(OutboxEvent)
                                     .where(OutboxEvent.sent_at.is_(None))) or 0)


# -- the consumer's idempotency check -----------------------------------------------------------

async def claim_for_handling(session: AsyncSession, event_id: uuid.UUID) -> bool:
    """Marks the event handled in the caller's transaction; False when it already was (a
    redelivery) or is gone (purged after it was handled). A concurrent claim of the same event
    waits on the row lock and then finds it handled."""
    claimed = await session.execute(update(OutboxEvent)
                                    .where(OutboxEvent.id == event_id, OutboxEvent.handled_at.is_(None))
                                    .values(handled_at=func.now()).returning(OutboxEvent.id))
    return claimed.first() is not None


async def purge_handled(sessionmaker: async_sessionmaker[AsyncSession], *, retention_seconds: int,
                        now: dt.datetime | None = None) -> int:
    """Deletes events handled more than ``retention_seconds`` ago (0 keeps them), in batches."""
    if retention_seconds <= 0:
        return 0
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=retention_seconds)
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            ids = (select(OutboxEvent.id).where(OutboxEvent.handled_at < cutoff).limit(PURGE_BATCH)
                   .with_for_update(skip_locked=True).scalar_subquery())
            deleted = (await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))).rowcount or 0
        total += deleted
        if deleted < PURGE_BATCH:
            return total
