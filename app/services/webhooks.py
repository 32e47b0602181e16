"""Webhook endpoints (admin registration), the fan-out of events into deliveries, and the
signature scheme.

Signature: ``Storefront-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
over the exact bytes of the body (docs/webhooks.md shows the receiver's side). The secret is
generated here, shown once, and stored AES-GCM encrypted with the PII key; it is never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound, Unprocessable
from app.core.security.crypto import PiiCipher
from app.models.webhook import WebhookDelivery, WebhookEndpoint
from app.schemas.common import Page
from app.schemas.webhooks import DeliveryOut, WebhookCreate, WebhookOut
from app.services import ssrf
from app.services.pagination import keyset_page

SECRET_CONTEXT = "webhook_endpoints.secret"  # noqa: S105 - an encryption context, not a secret
SIGNATURE_HEADER = "Storefront-Signature"
EVENT_ID_HEADER = "Storefront-Event-Id"
EVENT_TYPE_HEADER = "Storefront-Event-Type"
ATTEMPT_HEADER = "Storefront-Delivery-Attempt"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_seconds: int = 300) -> bool:
    """The receiver's check (also used by the tests): a valid v1 signature, timestamp in tolerance."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def event_body(event_id: uuid.UUID, event_type: str, created_at: dt.datetime, payload: dict[str, Any]) -> dict:
    return {"id": str(event_id), "type": event_type, "created_at": created_at.isoformat(), "data": payload}


# -- endpoints -----------------------------------------------------------------------------------

async def create_endpoint(session: AsyncSession, cipher: PiiCipher, policy: ssrf.TargetPolicy, data: WebhookCreate,
                          created_by: uuid.UUID | None) -> tuple[WebhookEndpoint, str]:
    """Checks the URL (its host's addresses included), stores the endpoint; returns it with
    the plaintext secret, which is not kept anywhere."""
    try:
        await ssrf.resolve(data.url, policy)
    except ssrf.TargetRefused as exc:
        raise Unprocessable(f"Webhook URL refused: {exc}", type_slug="webhook-url-refused",
                            errors=[{"field": "body.url", "message": str(exc), "type": "url_refused"}]) from None
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(id=uuid.uuid4(), url=data.url, description=data.description,
                               events=sorted(set(data.events)),
                               secret_ciphertext=cipher.encrypt(secret, context=SECRET_CONTEXT),
                               created_by=created_by)
    session.add(endpoint)
    await session.commit()
    return endpoint, secret


def endpoint_secret(cipher: PiiCipher, endpoint: WebhookEndpoint) -> str:
    return cipher.decrypt(endpoint.secret_ciphertext, context=SECRET_CONTEXT)


async def get_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("Webhook not found")
    return endpoint


async def list_endpoints(session: AsyncSession, *, limit: int, cursor: str | None) -> Page[WebhookOut]:
    return await keyset_page(session, select(WebhookEndpoint), WebhookEndpoint, WebhookOut, limit=limit, cursor=cursor)


async def delete_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """Its deliveries go with it (pending ones are no longer attempted)."""
    await session.delete(await get_endpoint(session, endpoint_id))
    await session.commit()


async def list_deliveries(session: AsyncSession, endpoint_id: uuid.UUID, *, status: str | None, limit: int,
                          cursor: str | None) -> Page[DeliveryOut]:
    await get_endpoint(session, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return await keyset_page(session, stmt, WebhookDelivery, DeliveryOut, limit=limit, cursor=cursor)


# -- fan-out (the consumer's handler, in the transaction that marks the event handled) -------------

async def fan_out(session: AsyncSession, *, event_id: uuid.UUID, event_type: str, created_at: dt.datetime,
                  payload: dict[str, Any]) -> int:
    """One pending delivery per active endpoint subscribed to the type; a second fan-out of the
    same event adds none (unique endpoint+event). Returns how many were added."""
    endpoints = (await session.scalars(select(WebhookEndpoint.id).where(
        WebhookEndpoint.is_active.is_(True), WebhookEndpoint.events.contains([event_type])))).all()
    if not endpoints:
        return 0
    body = event_body(event_id, event_type, created_at, payload)
    rows = [{"id": uuid.uuid4(), "endpoint_id": e, "event_id": event_id, "event_type": event_type, "body": body,
             "status": "pending", "attempts": 0, "next_attempt_at": dt.datetime.now(dt.UTC),
             "event_created_at": created_at} for e in endpoints]
    result = await session.execute(pg_insert(WebhookDelivery).values(rows)
                                   .on_conflict_do_nothing(constraint="uq_webhook_deliveries_endpoint_id")
                                   .returning(WebhookDelivery.id))
    return len(result.all())
