"""Expiry of orders left ``pending`` past ``STOREFRONT_ORDER_PENDING_TTL_SECONDS``: the worker
cancels them (status ``cancelled`` with ``expired_at`` set) and returns their stock.

One sweep flips a batch of old pending orders to ``cancelled`` with a conditional UPDATE whose
rows were selected ``FOR UPDATE SKIP LOCKED``, returns their stock and writes one
``order.expired`` event per order, all in one transaction. The status flip is the
exactly-once guard, as in ``cancel_order``: an order a customer is cancelling right now is
locked (skipped now, found cancelled next time), and an order already flipped by another worker
or a cancel is no longer ``pending``, so its stock is returned by exactly one of them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from app.core import tracing
from app.core.metrics import ORDERS
from app.models.order import Order
from app.models.outbox import OutboxEvent
from app.models.product import Product
from app.services import cache, outbox

BATCH_SIZE = 100


async def expire_batch(sessionmaker: async_sessionmaker[AsyncSession], *, ttl_seconds: int,
                       batch_size: int = BATCH_SIZE, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Expires up to ``batch_size`` orders pending for longer than the TTL; returns their ids."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=ttl_seconds)
    async with sessionmaker() as session, session.begin():
        candidates = (select(Order.id).where(Order.status == "pending", Order.created_at < cutoff)
                      .order_by(Order.created_at).limit(batch_size).with_for_update(skip_locked=True)
                      .scalar_subquery())
        expired = list((await session.scalars(
            update(Order).where(Order.id.in_(candidates), Order.status == "pending")
            .values(status="cancelled", cancelled_at=func.now(), expired_at=func.now(), updated_at=func.now())
            .returning(Order.id).execution_options(synchronize_session=False)
        )).all())
        if not expired:
            return []
        returned = await _return_stock_and_record(session, expired)
    ORDERS.labels("expired").inc(len(expired))
    await cache.invalidate_products(list(returned))
    return expired


async def _return_stock_and_record(session: AsyncSession, expired: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Returns the expired orders' stock and writes their ``order.expired`` events. When tracing
    is on, each order's expiry is a span in the trace of the request that placed it (the
    ``traceparent`` of its ``order.placed`` event, while that is kept), and its event carries
    that span on to the worker's handling and webhook deliveries."""
    orders = (await session.scalars(select(Order).where(Order.id.in_(expired))
                                    .options(selectinload(Order.items))
                                    .execution_options(populate_existing=True))).all()
    returned: dict[uuid.UUID, int] = defaultdict(int)
    for order in orders:
        for item in order.items:
            if item.product_id is not None:
                returned[item.product_id] += item.quantity
    # Ascending product order, like placing and cancelling: no lock cycles between them.
    for product_id in sorted(returned):
        await session.execute(update(Product).where(Product.id == product_id)
                              .values(stock=Product.stock + returned[product_id], updated_at=func.now())
                              .execution_options(synchronize_session=False))
    placed: dict[uuid.UUID, str | None] = {}
    if tracing.enabled():
        placed = dict((await session.execute(
            select(OutboxEvent.aggregate_id, OutboxEvent.traceparent)
            .where(OutboxEvent.aggregate_type == "order", OutboxEvent.aggregate_id.in_(expired),
                   OutboxEvent.event_type == outbox.ORDER_PLACED))).all())
    for order in orders:
        with tracing.continued(placed.get(order.id), "order.expire", **{"storefront.order.id": str(order.id)}):
            await outbox.record_order_event(session, order, order.items, outbox.ORDER_EXPIRED, "cancelled")
    return returned


async def expire_all(sessionmaker: async_sessionmaker[AsyncSession], *, ttl_seconds: int,
                     batch_size: int = BATCH_SIZE) -> int:
    """Sweeps until no expired order is left (or the rest is locked by someone else right now)."""
    total = 0
    while True:
        done = await expire_batch(sessionmaker, ttl_seconds=ttl_seconds, batch_size=batch_size)
        total += len(done)
        if len(done) < batch_size:
            return total

