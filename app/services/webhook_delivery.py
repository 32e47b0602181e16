"""Sending webhook deliveries: claim due ones with a lease, POST them signed, record the outcome.

A claim takes due deliveries ``FOR UPDATE SKIP LOCKED`` and sets ``lease_until`` and
``attempts + 1`` in one statement, so two workers never send the same delivery at once; a
worker killed mid-delivery loses nothing (the lease runs out and another worker sends it again,
with the same ``Storefront-Event-Id`` for the receiver's idempotency check). The outcome is
written only while the lease is still the claimer's. Failures are retried after
``random(0, min(max, base * 2^(attempt-1)))`` seconds (exponential backoff, full jitter), the
schedule kept in ``next_attempt_at``; after ``webhook_max_attempts`` the delivery is
dead-lettered.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import tracing
from app.core.security.crypto import PiiCipher
from app.models.outbox import OutboxEvent
from app.models.webhook import WebhookDelivery, WebhookEndpoint
from app.services import ssrf, webhooks

USER_AGENT = "Storefront-Webhooks/1"


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    backoff_base: float
    backoff_max: float
    timeout: float

    @property
    def lease_seconds(self) -> float:
        # Resolution and the request, with room to spare: a lease outliving a live attempt
        # would let a second worker send the same delivery.
        return 2 * self.timeout + 2

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))  # noqa: S311


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    attempt: int
    lease_until: dt.datetime
    url: str
    secret_ciphertext: bytes
    body: dict[str, Any]
    event_created_at: dt.datetime
    traceparent: str | None = None  # the event's, read only when tracing is on


@dataclass(frozen=True)
class Outcome:
    outcome: str  # succeeded | retry | dead_lettered | lost_lease
    status_code: int | None
    seconds: float
    event_created_at: dt.datetime


async def claim_due(sessionmaker: async_sessionmaker[AsyncSession], *, limit: int, policy: Policy) -> list[Claimed]:
    async with sessionmaker() as session, session.begin():
        due = (select(WebhookDelivery.id)
               .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= func.now(),
                      or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < func.now()))
               .order_by(WebhookDelivery.next_attempt_at).limit(limit)
               .with_for_update(skip_locked=True).scalar_subquery())
        lease = func.now() + dt.timedelta(seconds=policy.lease_seconds)
        rows = (await session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(due))
            .values(lease_until=lease, attempts=WebhookDelivery.attempts + 1)
            .returning(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.event_id,
                       WebhookDelivery.event_type, WebhookDelivery.attempts, WebhookDelivery.lease_until,
                       WebhookDelivery.body, WebhookDelivery.event_created_at)
            .execution_options(synchronize_session=False))).all()
        if not rows:
            return []
        endpoints = {e.id: e for e in (await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r.endpoint_id for r in rows})))).all()}
        traceparents: dict[uuid.UUID, str | None] = {}
        if tracing.enabled():  # the event's trace, while its outbox row is kept (outbox_retention_seconds)
            traceparents = dict((await session.execute(
                select(OutboxEvent.id, OutboxEvent.traceparent)
                .where(OutboxEvent.id.in_({r.event_id for r in rows})))).all())
    return [Claimed(r.id, r.event_id, r.event_type, r.attempts, r.lease_until, endpoints[r.endpoint_id].url,
                    endpoints[r.endpoint_id].secret_ciphertext, r.body, r.event_created_at,
                    traceparents.get(r.event_id))
            for r in rows if r.endpoint_id in endpoints]


async def send(client: httpx.AsyncClient, cipher: PiiCipher, target_policy: ssrf.TargetPolicy, claimed: Claimed,
               timeout_seconds: float) -> tuple[int | None, str | None]:
    """One POST; (status code, error). The host is resolved and checked again now, and the
    request goes to the checked address (TLS still verifies the host name)."""
    try:
        target = await ssrf.resolve(claimed.url, target_policy, resolve_seconds=timeout_seconds)
    except ssrf.TargetRefused as exc:
        return None, f"refused: {exc}"[:300]
    body = json.dumps(claimed.body, separators=(",", ":")).encode()
    secret = cipher.decrypt(claimed.secret_ciphertext, context=webhooks.SECRET_CONTEXT)
    address = f"[{target.address}]" if ":" in target.address else target.address
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": host_header,
        webhooks.SIGNATURE_HEADER: webhooks.sign(secret, int(time.time()), body),
        webhooks.EVENT_ID_HEADER: str(claimed.event_id),
        webhooks.EVENT_TYPE_HEADER: claimed.event_type,
        webhooks.ATTEMPT_HEADER: str(claimed.attempt),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        response = await client.post(f"{target.scheme}://{address}:{target.port}{target.path}", content=body,
                                      headers=headers, timeout=timeout_seconds, extensions=extensions)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}"[:300]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


async def record(sessionmaker: async_sessionmaker[AsyncSession], claimed: Claimed, policy: Policy,
                 status_code: int | None, error: str | None, seconds: float) -> Outcome:
    if error is None:
        values: dict[str, Any] = {"status": "succeeded", "delivered_at": func.now(), "next_attempt_at": None}
        outcome = "succeeded"
    elif claimed.attempt >= policy.max_attempts:
        values = {"status": "dead_lettered", "next_attempt_at": None}
        outcome = "dead_lettered"
    else:
        values = {"next_attempt_at": func.now() + dt.timedelta(seconds=policy.backoff(claimed.attempt))}
        outcome = "retry"
    values.update(lease_until=None, last_status_code=status_code, last_error=error,
                  last_latency_ms=int(seconds * 1000), updated_at=func.now())
    async with sessionmaker() as session, session.begin():
        result = await session.execute(
            update(WebhookDelivery)
            .where(and_(WebhookDelivery.id == claimed.id, WebhookDelivery.lease_until == claimed.lease_until,
                        WebhookDelivery.status == "pending"))
            .values(**values).execution_options(synchronize_session=False))
    if not result.rowcount:
        outcome = "lost_lease"  # took longer than the lease: the delivery is someone else's now
    return Outcome(outcome, status_code, seconds, claimed.event_created_at)


async def deliver(sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, cipher: PiiCipher,
                  target_policy: ssrf.TargetPolicy, policy: Policy, claimed: Claimed) -> Outcome:
    started = time.perf_counter()
    status_code, error = await send(client, cipher, target_policy, claimed, policy.timeout)
    return await record(sessionmaker, claimed, policy, status_code, error, time.perf_counter() - started)


def client(timeout: float) -> httpx.AsyncClient:
    """No redirects followed, no proxy from the environment, no cookies kept between endpoints."""
    return httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout,
                             limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
