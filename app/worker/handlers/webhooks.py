"""The webhook handler: one delivery per subscribed endpoint (sent by the delivery loop)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.services import webhooks


async def fan_out(session: AsyncSession, event: Any) -> int:
    return await webhooks.fan_out(session, event_id=event.id, event_type=event.type, created_at=event.created_at,
                                  payload=event.payload)
