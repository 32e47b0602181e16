"""Per-request session checks for access tokens: is the user still active, is the token's
version current, is its session (refresh-token family) still alive?

PostgreSQL is the authority. Redis caches the answers briefly under one hash tag per user
(``{u:<id>}``), so both keys of a check are read with one MGET even on a cluster. A flushed or
unreachable Redis only means a database read; it can never turn a revoked session alive,
because revocation is written to PostgreSQL first and the cache is then updated or dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.refresh_token import RefreshTokenFamily
from app.models.user import User
from app.services.redis_safety import attempt

_REVOKED = "revoked"
_LIVE = "live"


@dataclass(frozen=True)
class UserState:
    token_version: int
    is_active: bool
    role: str

    def encode(self) -> str:
        return f"{self.token_version}|{int(self.is_active)}|{self.role}"

    @classmethod
    def decode(cls, raw: bytes | str) -> UserState | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        parts = text.split("|")
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        return cls(int(parts[0]), parts[1] == "1", parts[2])


def user_key(user_id: uuid.UUID | str) -> str:
    return f"{{u:{user_id}}}:state"


def family_key(user_id: uuid.UUID | str, family_id: uuid.UUID | str) -> str:
    return f"{{u:{user_id}}}:fam:{family_id}"


class SessionStateCache:
    def __init__(self, redis, ttl_seconds: int, revoked_ttl_seconds: int):
        self.redis = redis
        self.ttl = ttl_seconds
        self.revoked_ttl = revoked_ttl_seconds

    async def lookup(
        self, session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID | None
    ) -> tuple[UserState | None, bool]:
        """(user state or None if the user is gone, whether the family is alive)."""
        keys = [user_key(user_id)] + ([family_key(user_id, family_id)] if family_id else [])
        cached = await attempt(self.redis, self.redis.mget(keys), "session-state read") if self.redis else None
        state = UserState.decode(cached[0]) if cached and cached[0] else None
        family_flag = cached[1] if cached and family_id and len(cached) > 1 else None
        if family_flag is not None:
            family_flag = family_flag.decode() if isinstance(family_flag, bytes) else family_flag
        if state is None:
            row = (await session.execute(
                select(User.token_version, User.is_active, User.role).where(User.id == user_id)
            )).one_or_none()
            if row is None:
                return None, False
            state = UserState(row.token_version, row.is_active, row.role)
            await self._set(user_key(user_id), state.encode(), self.ttl, fill=True)
        alive = True
        if family_id is not None:
            if family_flag == _REVOKED:
                alive = False
            elif family_flag != _LIVE:
                revoked_at = (await session.execute(
                    select(RefreshTokenFamily.revoked_at).where(
                        RefreshTokenFamily.id == family_id, RefreshTokenFamily.user_id == user_id
                    )
                )).one_or_none()
                alive = revoked_at is not None and revoked_at[0] is None
                await self._set(family_key(user_id, family_id), _LIVE if alive else _REVOKED,
                                self.ttl if alive else self.revoked_ttl, fill=True)
        return state, alive

    async def _set(self, key: str, value: str, ttl: int, *, fill: bool = False) -> None:
        # Fills from a database read only add a missing key (nx): a fill racing with a
        # revocation must not overwrite the newer truth the revocation wrote.
        if self.redis is not None:
            await attempt(self.redis, self.redis.set(key, value, ex=max(1, ttl), nx=fill), "session-state write")

    async def store_user(self, user: User) -> None:
        """Call after committing a change to the user's version, role or active flag."""
        state = UserState(user.token_version, user.is_active, user.role)
        await self._set(user_key(user.id), state.encode(), self.ttl)

    async def mark_revoked(self, user_id: uuid.UUID, family_ids: list[uuid.UUID]) -> None:
        """Call after committing the revocation; the cache then answers without PostgreSQL."""
        for family_id in family_ids:
            await self._set(family_key(user_id, family_id), _REVOKED, self.revoked_ttl)
