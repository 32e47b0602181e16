"""Security events: one row in ``audit_log`` and one structured line on the
``storefront.audit`` log stream, both with the correlation id and the actor."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.request_context import client_ip, correlation_id
from app.models.audit import AuditLog

audit_log = logging.getLogger("storefront.audit")


@dataclass(frozen=True)
class Actor:
    type: str  # "user", "api_key" or "anonymous"
    id: str | None = None
    ip: str | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID | str, ip: str | None = None) -> Actor:
        return cls("user", str(user_id), ip)

    @classmethod
    def anonymous(cls, ip: str | None = None) -> Actor:
        return cls("anonymous", None, ip)


def record(
    session: AsyncSession,
    event: str,
    actor: Actor,
    *,
    outcome: str = "success",
    subject_type: str | None = None,
    subject_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Adds the row to the caller's transaction (committed with it) and logs right away."""
    row = AuditLog(
        event=event,
        outcome=outcome,
        actor_type=actor.type,
        actor_id=actor.id,
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
        correlation_id=correlation_id.get(),
        ip=actor.ip or client_ip.get(),
        details=details or {},
    )
    session.add(row)
    audit_log.info(
        event,
        extra={
            "audit_event": event,
            "outcome": outcome,
            "actor_type": actor.type,
            "actor_id": actor.id,
            "subject_type": subject_type,
            "subject_id": row.subject_id,
            "client_ip": row.ip,
            "correlation_id": row.correlation_id,
            "details": row.details,
        },
    )
    return row
