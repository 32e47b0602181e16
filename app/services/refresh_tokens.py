"""Opaque refresh tokens in families, rotated on every use, with reuse detection
(RFC 9700 §4.14) and lost-response safety.

- A token is 32 bytes from the CSPRNG, stored only as its SHA-256 hash.
- A login starts a family. Each refresh marks the presented token used and issues its child.
- A parent whose child has not been used yet may be presented again (the client never got
  the response): the unused child is superseded and a new one issued.
- Any other replay (a used token whose child was used, or a superseded token) revokes the
  whole family, the newest token included.
- PostgreSQL decides every refresh under a row lock on the family, so concurrent refreshes of
  one family are serialised and a Redis loss cannot bring a used or revoked token back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Unauthorized
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.services import audit
from app.services.audit import Actor

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    # The token has 256 bits of entropy, so a fast hash is enough to make a leaked table useless.
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    family_id: uuid.UUID
    user_id: uuid.UUID
    mfa_authenticated: bool


@dataclass(frozen=True)
class RefreshPolicy:
    absolute_seconds: int
    idle_seconds: int


class RefreshTokenService:
    def __init__(self, policy: RefreshPolicy):
        self.policy = policy

    def _new_token(self, session: AsyncSession, family: RefreshTokenFamily, parent: RefreshToken | None,
                   now: dt.datetime) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        idle_end = now + dt.timedelta(seconds=self.policy.idle_seconds)
        session.add(RefreshToken(
            family_id=family.id,
            user_id=family.user_id,
            parent_id=parent.id if parent else None,
            token_hash=hash_token(token),
            expires_at=min(family.expires_at, idle_end),
        ))
        return token

    async def start_family(self, session: AsyncSession, user_id: uuid.UUID, *, mfa_authenticated: bool) -> IssuedRefreshToken:
        """A new session; the caller commits."""
        now = _now()
        family = RefreshTokenFamily(
            id=uuid.uuid4(), user_id=user_id, mfa_authenticated=mfa_authenticated, last_used_at=now,
            expires_at=now + dt.timedelta(seconds=self.policy.absolute_seconds),
        )
        session.add(family)
        await session.flush()
        token = self._new_token(session, family, None, now)
        return IssuedRefreshToken(token, family.id, user_id, mfa_authenticated)

    async def _find(self, session: AsyncSession, token: str) -> tuple[RefreshToken, RefreshTokenFamily] | None:
        if not token or len(token) > 256:
            return None
        current = (await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
        )).scalar_one_or_none()
        if current is None:
            return None
        # The family row lock serialises every rotation, revocation and retry of this session.
        family = (await session.execute(
            select(RefreshTokenFamily).where(RefreshTokenFamily.id == current.family_id).with_for_update()
        )).scalar_one()
        await session.refresh(current)  # re-read under the lock
        return current, family

    async def rotate(self, session: AsyncSession, token: str, actor_ip: str | None = None) -> IssuedRefreshToken:
        """Exchanges a refresh token for its successor; commits. Unauthorized on any failure
        (after committing the family's revocation when the failure was a replay)."""
        found = await self._find(session, token)
        if found is None:
            raise Unauthorized("invalid refresh token")
        current, family = found
        now = _now()
        if family.revoked_at is not None:
            await session.rollback()
            raise Unauthorized("refresh token revoked")
        if now >= family.expires_at or now >= current.expires_at:
            await session.rollback()
            raise Unauthorized("refresh token expired")
        if current.revoked_at is not None:
            raise await self._revoke_for_reuse(session, family, current, now, actor_ip, "superseded token replayed")
        if current.used_at is None:
            current.used_at = now
        else:
            child = (await session.execute(
                select(RefreshToken)
                .where(RefreshToken.parent_id == current.id, RefreshToken.revoked_at.is_(None))
                .order_by(RefreshToken.created_at.desc())
                .limit(1)
            )).scalar_one_or_none()
            if child is None or child.used_at is not None:
                raise await self._revoke_for_reuse(session, family, current, now, actor_ip, "used token replayed")
            # Lost response: the client never saw the child, so it retries with the parent.
            child.revoked_at = now
        current.last_used_at = now
        family.last_used_at = now
        new_token = self._new_token(session, family, current, now)
        await session.commit()
        return IssuedRefreshToken(new_token, family.id, family.user_id, family.mfa_authenticated)

    async def _revoke_for_reuse(self, session: AsyncSession, family: RefreshTokenFamily, token: RefreshToken,
                                now: dt.datetime, actor_ip: str | None, why: str) -> TokenReuseDetected:
        family.revoked_at = now
        family.revoked_reason = "reuse_detected"
        audit.record(
            session, "auth.refresh.reuse_detected", Actor.user(family.user_id, actor_ip), outcome="failure",
            subject_type="user", subject_id=family.user_id,
            details={"reason": why, "session": str(family.id), "token_id": str(token.id)},
        )
        await session.commit()
        return TokenReuseDetected(family.user_id, family.id)

    async def family_of(self, session: AsyncSession, token: str) -> RefreshTokenFamily | None:
        """The family a token belongs to, locked; None for an unknown token."""
        found = await self._find(session, token)
        return found[1] if found else None

    async def revoke_family(self, family: RefreshTokenFamily, reason: str) -> bool:
        """Marks a locked family revoked; False when it already was. The caller commits."""
        if family.revoked_at is not None:
            return False
        family.revoked_at = _now()
        family.revoked_reason = reason
        return True

    async def revoke_all_for_user(self, session: AsyncSession, user_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
        """Revokes every live family of the user; the caller commits. Returns their ids."""
        result = await session.execute(
            update(RefreshTokenFamily)
            .where(RefreshTokenFamily.user_id == user_id, RefreshTokenFamily.revoked_at.is_(None))
            .values(revoked_at=_now(), revoked_reason=reason)
            .returning(RefreshTokenFamily.id)
        )
        return list(result.scalars())


class TokenReuseDetected(Unauthorized):
    def __init__(self, user_id: uuid.UUID, family_id: uuid.UUID):
        super().__init__("refresh token reuse detected; the session has been revoked")
        self.user_id = user_id
        self.family_id = family_id
