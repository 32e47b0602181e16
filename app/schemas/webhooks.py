"""Webhook endpoint and delivery bodies. The signing secret appears once, in the 201 answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import StrictInput
from app.services.outbox import EVENT_TYPES

EventType = Literal["order.placed", "order.cancelled", "order.expired", "user.registered"]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]


class WebhookCreate(StrictInput):
    url: Annotated[str, Field(min_length=1, max_length=2000, description="http(s) URL receiving the POSTs.")]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
    description: Annotated[str, Field(max_length=500)] = ""


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret, shown this once: keep it in the receiver's secret store.")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "succeeded", "dead_lettered"]
    attempts: int = Field(description="Attempts made so far.")
    last_status_code: int | None = Field(description="HTTP status of the last attempt (null: no answer).")
    last_latency_ms: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None = Field(description="When the next attempt is due (pending only).")
    dead_lettered: bool
    delivered_at: dt.datetime | None
    created_at: dt.datetime


DeliveryStatus = Literal["pending", "succeeded", "dead_lettered"]
