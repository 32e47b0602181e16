"""Authentication dependencies for every router.

- ``get_principal``: the caller, from ``Authorization: Bearer <access token>`` or ``X-API-Key``.
- ``optional_principal``: the same, or None for anonymous callers of public routes.
- ``require_user``: a logged-in user (not an API key). ``require_admin``: an admin user (with
  a second factor when ``mfa_required_for_admins`` is set).
- ``require_scopes(*scopes)``: an admin user, or an API key carrying all these scopes.

A bearer token is checked beyond its signature: the user must still exist and be active, the
token's version must be current (password change and deactivation bump it) and its session
must not be revoked (logout, refresh-token reuse). See app.services.session_state.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import request_context
from app.core.db import get_session
from app.core.errors import Forbidden, Unauthorized
from app.core.redis import get_redis
from app.core.security.runtime import Security, get_security
from app.core.security.tokens import TokenType
from app.services import api_keys
from app.services.identity import Identity, build_identity


@dataclass(frozen=True)
class Principal:
    via: Literal["bearer", "api_key"]
    user_id: uuid.UUID | None
    role: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    mfa: bool = False

    @property
    def is_admin(self) -> bool:
        return self.via == "bearer" and self.role == "admin"

    def has_scopes(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key for service-to-service calls")


def security_of(request: Request) -> Security:
    return getattr(request.app.state, "security", None) or get_security()


def _redis_or_none():
    # Not initialised only in tools that build services without the app's lifespan.
    try:
        return get_redis()
    except RuntimeError:
        return None


async def get_identity(request: Request) -> Identity:
    """The identity services of this app, built once: they hold no per-request state. Rebuilt
    only when the security objects or the Redis client are replaced (settings reloaded in tests)."""
    security, redis = security_of(request), _redis_or_none()
    identity = getattr(request.app.state, "identity", None)
    if identity is None or identity.security is not security or identity.redis is not redis:
        identity = request.app.state.identity = build_identity(security, redis)
    return identity


def client_ip(request: Request) -> str:
    return request_context.client_ip.get() or (request.client.host if request.client else "unknown")


IdentityDep = Annotated[Identity, Depends(get_identity)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def _from_bearer(token: str, session: AsyncSession, identity: Identity) -> Principal:
    claims = identity.security.tokens.verify(token, TokenType.ACCESS)
    try:
        user_id = uuid.UUID(claims["sub"])
        session_id = uuid.UUID(claims["sid"]) if claims.get("sid") else None
    except (ValueError, TypeError):
        raise Unauthorized("invalid token subject") from None
    state, session_alive = await identity.session_state.lookup(session, user_id, session_id)
    if state is None or not state.is_active:
        raise Unauthorized("account is not active")
    if state.token_version != claims.get("ver") or not session_alive:
        raise Unauthorized("session has ended; log in again")
    return Principal(via="bearer", user_id=user_id, role=state.role, session_id=session_id,
                     mfa="otp" in (claims.get("amr") or []))


async def optional_principal(
    session: SessionDep,
    identity: IdentityDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    if bearer is not None and api_key:
        raise Unauthorized("send either a bearer token or an API key, not both")
    if bearer is not None:
        principal = await _from_bearer(bearer.credentials, session, identity)
        request_context.actor.set(f"user:{principal.user_id}")
        return principal
    if api_key:
        row = await api_keys.authenticate(session, api_key)
        if row is None:
            raise Unauthorized("invalid API key", headers={"WWW-Authenticate": 'APIKey header="X-API-Key"'})
        request_context.actor.set(f"api_key:{row.id}")
        return Principal(via="api_key", user_id=None, role=None, scopes=frozenset(row.scopes), api_key_id=row.id)
    return None


async def get_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required")
    return principal


async def require_user(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.via != "bearer":
        raise Forbidden("this operation needs a user login, not an API key")
    return principal


async def require_admin(request: Request, principal: Annotated[Principal, Depends(require_user)]) -> Principal:
    if principal.role != "admin":
        raise Forbidden("administrators only")
    if security_of(request).settings.mfa_required_for_admins and not principal.mfa:
        raise Forbidden("administrators must log in with MFA: enrol with /auth/mfa/totp/enroll, then log in again")
    return principal


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """An admin user, or an API key with every one of ``scopes``."""

    async def dependency(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.via == "api_key":
            if not principal.has_scopes(*scopes):
                raise Forbidden(f"API key lacks scope(s): {', '.join(sorted(set(scopes) - principal.scopes))}")
            return principal
        return await require_admin(request, principal)

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(require_user)]
CurrentAdmin = Annotated[Principal, Depends(require_admin)]
