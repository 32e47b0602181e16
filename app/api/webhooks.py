"""Webhook endpoints and their delivery log, for admins. The signing secret is in the 201
answer only; it is stored encrypted and never shown again."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import CurrentAdmin, security_of
from app.api.problems import problem_responses
from app.core.db import get_session
from app.schemas.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from app.schemas.webhooks import DeliveryOut, DeliveryStatus, WebhookCreate, WebhookCreated, WebhookOut
from app.services import ssrf
from app.services import webhooks as service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Session = Annotated[AsyncSession, Depends(get_session)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=512)]

CREATE_DESCRIPTION = """\
Every event of the listed types is POSTed to the URL as JSON, signed with the secret returned
here (only here): `Storefront-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
See docs/webhooks.md for the receiver's side. URLs whose host resolves to loopback, private,
link-local, CGNAT, multicast or reserved addresses are refused (422 `webhook-url-refused`)
unless the platform's configuration allows them; in production the URL must be https.
"""


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED, summary="Register a webhook",
             description=CREATE_DESCRIPTION, responses=problem_responses(401, 403, 422))
async def create_webhook(data: WebhookCreate, request: Request, response: Response, session: Session,
                         admin: CurrentAdmin) -> WebhookCreated:
    security = security_of(request)
    endpoint, secret = await service.create_endpoint(session, security.cipher, ssrf.TargetPolicy.of(security.settings),
                                                     data, admin.user_id)
    response.headers["Location"] = f"/webhooks/{endpoint.id}"
    return WebhookCreated(**WebhookOut.model_validate(endpoint).model_dump(), secret=secret)


@router.get("", response_model=Page[WebhookOut], summary="Registered webhooks, newest first",
            responses=problem_responses(401, 403, 422))
async def list_webhooks(session: Session, _admin: CurrentAdmin, limit: Limit = DEFAULT_PAGE_SIZE,
                        cursor: Cursor = None) -> Page[WebhookOut]:
    return await service.list_endpoints(session, limit=limit, cursor=cursor)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook",
            responses=problem_responses(401, 403, 404, 422))
async def get_webhook(webhook_id: uuid.UUID, session: Session, _admin: CurrentAdmin) -> WebhookOut:
    return WebhookOut.model_validate(await service.get_endpoint(session, webhook_id))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a webhook and its log",
               responses=problem_responses(401, 403, 404, 422))
async def delete_webhook(webhook_id: uuid.UUID, session: Session, _admin: CurrentAdmin) -> Response:
    await service.delete_endpoint(session, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut],
            summary="Delivery log of a webhook, newest first",
            description="One entry per event: attempts so far, the last answer, the next retry, and whether it "
                        "was dead-lettered. Filter with `status` (pending, succeeded, dead_lettered).",
            responses=problem_responses(401, 403, 404, 422))
async def list_deliveries(webhook_id: uuid.UUID, session: Session, _admin: CurrentAdmin,
                          delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
                          limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> Page[DeliveryOut]:
    return await service.list_deliveries(session, webhook_id, status=delivery_status, limit=limit, cursor=cursor)
