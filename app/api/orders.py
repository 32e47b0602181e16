"""Order routes for signed-in users. Another customer's order is 404, never 403."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Principal, require_user
from app.api.problems import problem_responses
from app.core.db import get_session
from app.schemas.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from app.schemas.orders import OrderCreate, OrderOut
from app.services import orders as service

router = APIRouter(prefix="/orders", tags=["orders"])

Session = Annotated[AsyncSession, Depends(get_session)]
User = Annotated[Principal, Depends(require_user)]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Retrying with the same key and body returns the same order; another body is a 422.",
)]


def _viewer(principal: Principal) -> service.Viewer:
    return service.Viewer(user_id=principal.user_id, is_admin=principal.is_admin)


PLACE_ORDER_DESCRIPTION = """\
Prices and the total come from the current catalog; stock is taken for every line in one
transaction, or for none (409 `insufficient-stock`, with `available` and `requested`).
Repeated products are merged into one line.

With an `Idempotency-Key`, a retry with the same key and the same items returns the order the
first request created (201 again, with `Idempotent-Replayed: true`), even when the retries race
each other; the same key with other items is a 422 `idempotency-key-reused`. Keys are per user.
A request that failed (for example 409) leaves nothing behind, so its retry runs anew.
"""


@router.post("", response_model=OrderOut, status_code=status.HTTP_201_CREATED, summary="Place an order",
             description=PLACE_ORDER_DESCRIPTION, responses=problem_responses(401, 403, 409, 422))
async def place_order(data: OrderCreate, session: Session, principal: User, response: Response,
                      idempotency_key: IdempotencyKey = None) -> OrderOut:
    order, replayed = await service.place_order(session, user_id=principal.user_id, data=data,
                                                idempotency_key=idempotency_key)
    response.headers["Location"] = f"/orders/{order.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderOut.model_validate(order)


@router.get("", response_model=Page[OrderOut], summary="Your orders, newest first (admins: everyone's)",
            responses=problem_responses(401, 403, 422))
async def list_orders(
    session: Session, principal: User,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[OrderOut]:
    return await service.list_orders(session, _viewer(principal), limit=limit, cursor=cursor)


@router.get("/{order_id}", response_model=OrderOut, summary="One order", responses=problem_responses(401, 403, 404, 422))
async def get_order(order_id: uuid.UUID, session: Session, principal: User) -> OrderOut:
    return await service.read_order(session, order_id, _viewer(principal))


@router.post("/{order_id}/cancel", response_model=OrderOut, summary="Cancel an order (returns its stock once)",
             responses=problem_responses(401, 403, 404, 422))
async def cancel_order(order_id: uuid.UUID, session: Session, principal: User) -> OrderOut:
    return OrderOut.model_validate(await service.cancel_order(session, order_id, _viewer(principal)))
