"""What the worker does with each event: parse the stream entry, check its payload against its
type, then run that type's handlers inside the transaction that marks the event handled (so a
handler's database effects and the idempotency mark commit together).

An entry that does not parse or whose payload does not fit its type raises ``PoisonEvent``; it is
retried like any failure and dead-lettered after ``queue_max_attempts``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.services import outbox
from app.worker.handlers import webhooks


class PoisonEvent(ValueError):
    """The entry cannot be handled, however often it is tried."""


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    aggregate_type: str
    aggregate_id: uuid.UUID
    version: int
    created_at: dt.datetime
    payload: dict[str, Any]
    traceparent: str | None


class _OrderItem(BaseModel):
    product_id: uuid.UUID | None
    quantity: int
    unit_price: str


class _OrderPayload(BaseModel):
    order_id: uuid.UUID
    user_id: uuid.UUID
    status: str
    total: str
    items: list[_OrderItem]


class _UserPayload(BaseModel):
    user_id: uuid.UUID
    role: str


Handler = Callable[[AsyncSession, Event], Awaitable[Any]]

PAYLOADS: dict[str, type[BaseModel]] = {
    outbox.ORDER_PLACED: _OrderPayload,
    outbox.ORDER_CANCELLED: _OrderPayload,
    outbox.ORDER_EXPIRED: _OrderPayload,
    outbox.USER_REGISTERED: _UserPayload,
}
# Every event type is offered to the webhooks; the expiry's own work (the stock) was done in the
# transaction that wrote order.expired, so nothing else needs to happen for it here.
HANDLERS: dict[str, tuple[Handler, ...]] = {event_type: (webhooks.fan_out,) for event_type in PAYLOADS}


def parse(fields: dict[str, str]) -> Event:
    try:
        event = Event(
            id=uuid.UUID(fields["id"]), type=fields["type"], aggregate_type=fields["aggregate_type"],
            aggregate_id=uuid.UUID(fields["aggregate_id"]), version=int(fields["version"]),
            created_at=dt.datetime.fromtimestamp(float(fields["created_at"]), dt.UTC),
            payload=json.loads(fields["payload"]), traceparent=fields.get("traceparent") or None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise PoisonEvent(f"malformed entry: {type(exc).__name__}") from None
    schema = PAYLOADS.get(event.type)
    if schema is None:
        raise PoisonEvent(f"unknown event type {event.type!r}")
    try:
        schema.model_validate(event.payload)
    except ValidationError as exc:
        raise PoisonEvent(f"payload does not fit {event.type}: {exc.error_count()} errors") from None
    return event


async def handle(session: AsyncSession, event: Event) -> bool:
    """Runs the handlers; True when one of them left work for the delivery loop."""
    more = False
    for handler in HANDLERS[event.type]:
        more = bool(await handler(session, event)) or more
    return more
