"""API keys (admin): create (the key is shown once), list, revoke."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app.api.deps import CurrentAdmin, SessionDep
from app.api.problems import problem_responses
from app.schemas.api_keys import ApiKeyCreatedOut, ApiKeyCreateIn, ApiKeyOut
from app.services import api_keys as api_key_service

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


def _out(row) -> dict:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "scopes": list(row.scopes),
            "created_at": row.created_at, "last_used_at": row.last_used_at, "revoked_at": row.revoked_at}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreatedOut,
             summary="Create an API key; the key is in this response only", responses=problem_responses(401, 403, 422))
async def create_api_key(body: ApiKeyCreateIn, principal: CurrentAdmin, session: SessionDep) -> ApiKeyCreatedOut:
    created = await api_key_service.create(session, principal.user_id, body.name, body.scopes)
    await session.refresh(created.row)
    return ApiKeyCreatedOut(**_out(created.row), key=created.key)


@router.get("", response_model=list[ApiKeyOut], summary="List API keys (never the keys themselves)",
            responses=problem_responses(401, 403))
async def list_api_keys(principal: CurrentAdmin, session: SessionDep) -> list[ApiKeyOut]:
    return [ApiKeyOut(**_out(row)) for row in await api_key_service.list_keys(session)]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke an API key (repeating it is harmless)", responses=problem_responses(401, 403, 404, 422))
async def revoke_api_key(key_id: uuid.UUID, principal: CurrentAdmin, session: SessionDep) -> Response:
    await api_key_service.revoke(session, principal.user_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
