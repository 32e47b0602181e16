"""API keys: ``sf_<prefix>_<secret>``. The prefix finds the row; only a hash of the whole key
is stored, so the key is shown once at creation and never again."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.models.api_key import ApiKey
from app.services import audit
from app.services.audit import Actor

# Scopes an API key may carry; the routes that accept API keys check them.
SCOPES = {
    "products:write": "Create, update and delete products",
    "users:read": "List users",
}
KEY_PREFIX = "sf_"
# Writing last_used_at on every call would turn each read into a write; once a minute is enough.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _hash(key: str) -> str:
    # 256 random bits: a fast hash suffices, a stolen table still yields nothing usable.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    key: str


async def create(session: AsyncSession, admin_id: uuid.UUID, name: str, scopes: list[str]) -> CreatedKey:
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=uuid.uuid4(), name=name, prefix=prefix, key_hash=_hash(key), scopes=sorted(set(scopes)),
                 created_by=admin_id)
    session.add(row)
    audit.record(session, "api_key.created", Actor.user(admin_id), subject_type="api_key", subject_id=row.id,
                 details={"name": name, "scopes": row.scopes, "prefix": prefix})
    await session.commit()
    return CreatedKey(row, key)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.execute(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))).scalars())


async def revoke(session: AsyncSession, admin_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """Revoking an already revoked key is harmless; an unknown id is 404."""
    row = await session.get(ApiKey, key_id, with_for_update=True)
    if row is None:
        raise NotFound("API key not found")
    if row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)
        audit.record(session, "api_key.revoked", Actor.user(admin_id), subject_type="api_key", subject_id=row.id,
                     details={"prefix": row.prefix})
    await session.commit()


def _parse(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    prefix, sep, secret = key[len(KEY_PREFIX):].partition("_")
    return prefix if sep and secret and len(prefix) == 12 else None


async def authenticate(session: AsyncSession, key: str) -> ApiKey | None:
    """The live key row for this key, or None."""
    prefix = _parse(key)
    if prefix is None:
        return None
    row = (await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    now = dt.datetime.now(dt.UTC)
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        await session.commit()
    return row
