"""The transactional outbox: a domain event is a row written in the transaction of its change,
so it exists if and only if that change committed.

``seq`` is a global identity: the relay sends unsent rows in ``seq`` order. Changes to one
aggregate are serialised by its row lock, so a later change of the same aggregate always gets
a higher ``seq`` and ``aggregate_version`` (commit order per aggregate). ``sent_at`` is set by
the relay once the event is in the stream; ``handled_at`` by the consumer, in the transaction
of the handler's effects (the idempotency check: a redelivered event finds it set).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False, unique=True)
    aggregate_type: Mapped[str] = mapped_column(String(50), nullable=False)
    aggregate_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    aggregate_version: Mapped[int] = mapped_column(Integer, nullable=False)
    event_type: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # W3C traceparent of the request that caused the event (reserved for tracing across the queue).
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    handled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("aggregate_type", "aggregate_id", "aggregate_version",
                         name="uq_outbox_events_aggregate_version"),
        # The relay's scan: unsent rows in seq order (a small partial index).
        Index("ix_outbox_events_unsent_seq", "seq", postgresql_where="sent_at IS NULL"),
        Index("ix_outbox_events_handled_at", "handled_at", postgresql_where="handled_at IS NOT NULL"),
    )
