"""Order bodies. Callers choose products and quantities only: prices, totals, status and
owner are the server's."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import StrictInput

MAX_ITEMS = 50
MAX_QUANTITY = 1000


class OrderItemIn(StrictInput):
    product_id: uuid.UUID
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class OrderCreate(StrictInput):
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID | None = Field(description="Null once the product has been deleted.")
    product_name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    status: Literal["pending", "cancelled"]
    total: Decimal
    items: list[OrderItemOut]
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    expired_at: dt.datetime | None = Field(
        default=None, description="Set when the platform cancelled the order because it was left pending past the "
                                  "configured time (its stock was returned).")
