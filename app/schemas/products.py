"""Product bodies. Money is a decimal with two places, sent and returned as a string
(``"19.99"``) so no client loses cents to floating point; numbers are accepted on input."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.schemas.common import StrictInput

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Price = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), max_digits=12, decimal_places=2)]
Stock = Annotated[int, Field(ge=0, le=1_000_000_000)]


class ProductCreate(StrictInput):
    name: Name
    description: Description = ""
    price: Price
    stock: Stock = 0


class ProductUpdate(StrictInput):
    """Only the fields given change; null is not a valid value for any of them."""

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    stock: Stock | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> ProductUpdate:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"null is not allowed for: {', '.join(sorted(nulls))}")
        return self


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    price: Decimal
    stock: int
    created_at: dt.datetime
    updated_at: dt.datetime
