"""Orders: placing (stock taken atomically), idempotent replay, ownership-scoped reads, cancel.

Stock is taken with one conditional ``UPDATE products SET stock = stock - q WHERE id = ? AND
stock >= q`` per product, in ascending product-id order, inside the transaction that inserts
the order. The UPDATE's row lock serialises concurrent orders for a product and PostgreSQL
re-checks ``stock >= q`` after the lock is granted, so concurrent orders can never oversell;
the fixed order of products means two orders never wait on each other in a cycle. If any
product is short the whole transaction rolls back and nothing is taken.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, Subquery, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InsufficientStock, NotFound, Unprocessable
from app.core.metrics import ORDERS
from app.models.order import Order, OrderItem
from app.models.product import Product
from app.schemas.common import Page
from app.schemas.orders import OrderCreate, OrderOut
from app.services import cache, outbox
from app.services.pagination import encode_cursor, keyset_filter

IDEMPOTENCY_CONSTRAINT = "uq_orders_user_id_idempotency_key"


@dataclass(frozen=True)
class Viewer:
    """Whose orders a caller may see: their own, or everyone's for an admin."""

    user_id: uuid.UUID
    is_admin: bool = False


def _merge_items(data: OrderCreate) -> list[tuple[uuid.UUID, int]]:
    """One line per product (quantities of repeated products add up), in product-id order."""
    quantities: dict[uuid.UUID, int] = {}
    for item in data.items:
        quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
    return sorted(quantities.items())


def fingerprint(lines: list[tuple[uuid.UUID, int]]) -> str:
    canonical = json.dumps([[str(pid), qty] for pid, qty in lines], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _existing_by_key(session: AsyncSession, user_id: uuid.UUID, key: str) -> Order | None:
    return await session.scalar(select(Order).where(Order.user_id == user_id, Order.idempotency_key == key))


def _replay(order: Order, request_fingerprint: str) -> Order:
    if order.request_fingerprint != request_fingerprint:
        raise Unprocessable("This Idempotency-Key was already used with a different request body",
                            type_slug="idempotency-key-reused")
    ORDERS.labels("replayed").inc()
    return order


async def place_order(session: AsyncSession, *, user_id: uuid.UUID, data: OrderCreate,
                      idempotency_key: str | None) -> tuple[Order, bool]:
    """Returns (order, replayed). Raises InsufficientStock (409) with nothing taken."""
    lines = _merge_items(data)
    request_fingerprint = fingerprint(lines)
    if idempotency_key is not None:
        existing = await _existing_by_key(session, user_id, idempotency_key)
        if existing is not None:
            return _replay(existing, request_fingerprint), True

    order = Order(id=uuid.uuid4(), user_id=user_id, status="pending", idempotency_key=idempotency_key,
                  request_fingerprint=request_fingerprint if idempotency_key else None)
    total = Decimal("0.00")
    items: list[OrderItem] = []
    for position, (product_id, quantity) in enumerate(lines):
        taken = (await session.execute(
            update(Product)
            .where(Product.id == product_id, Product.stock >= quantity)
            .values(stock=Product.stock - quantity, updated_at=func.now())
            .returning(Product.name, Product.price)
            .execution_options(synchronize_session=False)
        )).first()
        if taken is None:
            await session.rollback()
            await _raise_for_missing(session, product_id, quantity)
        line_total = taken.price * quantity
        total += line_total
        items.append(OrderItem(product_id=product_id, position=position, product_name=taken.name,
                               unit_price=taken.price, quantity=quantity, line_total=line_total))
    order.total = total
    order.items = items
    session.add(order)
    try:
        # The event commits with the order, or neither does (its INSERT flushes the order first).
        await outbox.record_order_event(session, order, items, outbox.ORDER_PLACED, "pending")
        await session.commit()
    except IntegrityError as exc:
        # Another request with the same key committed first; ours rolled back, stock included.
        await session.rollback()
        if idempotency_key is None or IDEMPOTENCY_CONSTRAINT not in str(exc.orig):
            raise
        existing = await _existing_by_key(session, user_id, idempotency_key)
        if existing is None:
            raise
        return _replay(existing, request_fingerprint), True
    ORDERS.labels("created").inc()
    await cache.invalidate_products([pid for pid, _ in lines])
    return order, False


async def _raise_for_missing(session: AsyncSession, product_id: uuid.UUID, quantity: int) -> None:
    available = await session.scalar(select(Product.stock).where(Product.id == product_id))
    if available is None:
        raise Unprocessable(f"Product {product_id} does not exist", type_slug="unknown-product",
                            product_id=str(product_id))
    ORDERS.labels("insufficient_stock").inc()
    raise InsufficientStock(f"Only {available} of product {product_id} in stock, {quantity} requested",
                            product_id=str(product_id), available=available, requested=quantity)


def _visible(viewer: Viewer):
    return True if viewer.is_admin else Order.user_id == viewer.user_id


async def get_order(session: AsyncSession, order_id: uuid.UUID, viewer: Viewer) -> Order:
    """Someone else's order is indistinguishable from a missing one (404, never 403)."""
    order = await session.scalar(select(Order).where(Order.id == order_id, _visible(viewer)))
    if order is None:
        raise NotFound("Order not found")
    return order


# Reads for responses: one select of the order columns joined with their items' columns, rows
# folded into OrderOut; no ORM objects, and one round trip instead of the order's plus selectin's.
_ORDER_COLUMNS = (Order.id, Order.user_id, Order.status, Order.total, Order.created_at, Order.cancelled_at,
                  Order.expired_at)
_ITEM_COLUMNS = (OrderItem.product_id, OrderItem.product_name, OrderItem.unit_price, OrderItem.quantity,
                 OrderItem.line_total)


def _with_items(orders: Subquery) -> Select:
    return (select(orders, *_ITEM_COLUMNS)
            .join(OrderItem, OrderItem.order_id == orders.c.id)
            .order_by(orders.c.created_at.desc(), orders.c.id.desc(), OrderItem.position))


def _fold(rows) -> list[OrderOut]:
    """Rows of _with_items, in order, to one OrderOut per order."""
    orders: dict[uuid.UUID, dict] = {}
    for row in rows:
        order = orders.get(row.id)
        if order is None:
            order = orders[row.id] = {"id": row.id, "user_id": row.user_id, "status": row.status, "total": row.total,
                                      "created_at": row.created_at, "cancelled_at": row.cancelled_at,
                                      "expired_at": row.expired_at, "items": []}
        order["items"].append({"product_id": row.product_id, "product_name": row.product_name,
                               "unit_price": row.unit_price, "quantity": row.quantity, "line_total": row.line_total})
    return [OrderOut.model_validate(order) for order in orders.values()]


async def read_order(session: AsyncSession, order_id: uuid.UUID, viewer: Viewer) -> OrderOut:
    """get_order for a response: someone else's order is a 404 too."""
    orders = select(*_ORDER_COLUMNS).where(Order.id == order_id, _visible(viewer)).subquery()
    found = _fold(await session.execute(_with_items(orders)))
    if not found:
        raise NotFound("Order not found")
    return found[0]


async def list_orders(session: AsyncSession, viewer: Viewer, *, limit: int, cursor: str | None) -> Page[OrderOut]:
    """Newest first, keyset-paginated (see app.services.pagination)."""
    stmt = select(*_ORDER_COLUMNS).where(_visible(viewer))
    stmt = keyset_filter(stmt, Order, cursor).order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    orders = _fold(await session.execute(_with_items(stmt.subquery())))
    more = len(orders) > limit
    orders = orders[:limit]
    next_cursor = encode_cursor(orders[-1].created_at, orders[-1].id) if more and orders else None
    return Page[OrderOut](items=orders, next_cursor=next_cursor, limit=limit)


async def cancel_order(session: AsyncSession, order_id: uuid.UUID, viewer: Viewer) -> Order:
    """Returns the stock exactly once: only the request whose conditional UPDATE flips the
    status from pending returns it; a second cancel finds nothing to flip and changes nothing."""
    order = await get_order(session, order_id, viewer)
    flipped = (await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == "pending")
        .values(status="cancelled", cancelled_at=func.now(), updated_at=func.now())
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )).first()
    returned: list[uuid.UUID] = []
    if flipped is not None:
        for item in sorted((i for i in order.items if i.product_id is not None), key=lambda i: i.product_id):
            await session.execute(
                update(Product).where(Product.id == item.product_id)
                .values(stock=Product.stock + item.quantity, updated_at=func.now())
                .execution_options(synchronize_session=False)
            )
            returned.append(item.product_id)
        await outbox.record_order_event(session, order, order.items, outbox.ORDER_CANCELLED, "cancelled")
    await session.commit()
    await session.refresh(order)
    if flipped is not None:
        ORDERS.labels("cancelled").inc()
        await cache.invalidate_products(returned)
    return order
