"""Users: the caller's own profile, and admin user management."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import CurrentAdmin, CurrentUser, IdentityDep, Principal, SessionDep, require_scopes
from app.api.problems import problem_responses
from app.schemas.users import AdminUserUpdateIn, MeUpdateIn, UserOut, UserPage
from app.services import users as user_service

router = APIRouter(prefix="/users", tags=["users"])


def _out(identity, user) -> UserOut:
    return UserOut(**user_service.view(identity.security, user).__dict__)


@router.get("/me", response_model=UserOut, summary="The caller's profile", responses=problem_responses(401, 403))
async def get_me(principal: CurrentUser, session: SessionDep, identity: IdentityDep) -> UserOut:
    return UserOut(**(await user_service.get_profile(session, identity.security, principal.user_id)).__dict__)


@router.patch("/me", response_model=UserOut,
              summary="Change name and/or password (with the current password; ends every session)",
              responses=problem_responses(401, 403, 422))
async def patch_me(body: MeUpdateIn, principal: CurrentUser, session: SessionDep, identity: IdentityDep) -> UserOut:
    user = await user_service.get_user(session, principal.user_id)
    user = await user_service.update_me(session, identity, user, name=body.name, password=body.password,
                                        current_password=body.current_password)
    return _out(identity, user)


@router.get("", response_model=UserPage, summary="List users (admin, or an API key with `users:read`)",
            responses=problem_responses(401, 403, 422))
async def list_users(
    principal: Annotated[Principal, Depends(require_scopes("users:read"))],
    session: SessionDep,
    identity: IdentityDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    email: Annotated[str | None, Query(max_length=254, description="Exact email match")] = None,
) -> UserPage:
    rows, next_cursor = await user_service.list_users(session, identity.security, limit=limit, cursor=cursor,
                                                      email=email)
    return UserPage(items=[_out(identity, u) for u in rows], next_cursor=next_cursor, limit=limit)


@router.patch("/{user_id}", response_model=UserOut,
              summary="Change a user's role or active flag (admin; deactivation ends sessions)",
              responses=problem_responses(401, 403, 404, 409, 422))
async def patch_user(user_id: uuid.UUID, body: AdminUserUpdateIn, principal: CurrentAdmin, session: SessionDep,
                     identity: IdentityDep) -> UserOut:
    user = await user_service.admin_update(session, identity, principal.user_id, user_id, role=body.role,
                                           is_active=body.is_active)
    return _out(identity, user)
