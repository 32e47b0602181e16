"""Orders and their items. Items keep the name and unit price at the time of ordering, so an
order stays correct when the product changes or is deleted."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamps, UUIDPrimaryKey

ORDER_STATUSES = ("pending", "cancelled")


class Order(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "orders"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending", server_default="pending")
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Set when the worker cancelled the order because it was left pending past
    # STOREFRONT_ORDER_PENDING_TTL_SECONDS (an expired order is a cancelled one, with this set).
    expired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Idempotency-Key of the POST that created the order, and a hash of that request's items:
    # a retry with the same key must carry the same body.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", lazy="selectin", order_by="OrderItem.position",
    )

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'cancelled')", name="status_known"),
        CheckConstraint("total >= 0", name="total_non_negative"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_id_idempotency_key"),
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        # The expiry sweep's scan: only pending orders, oldest first.
        Index("ix_orders_pending_created_at", "created_at", postgresql_where="status = 'pending'"),
    )
    # INSERT/UPDATE ... RETURNING fills created_at/updated_at without another round trip.
    __mapper_args__ = {"eager_defaults": True}


class OrderItem(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "order_items"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False)
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), nullable=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    product_name: Mapped[str] = mapped_column(String(200), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    line_total: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)

    order: Mapped[Order] = relationship(back_populates="items")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_order_items_order_id", "order_id"),
        Index("ix_order_items_product_id", "product_id"),
    )
