"""What the command line calls: write a keyset, create or update the seed admin, purge expired data."""

from __future__ import annotations

from pathlib import Path

from app.core.config import Settings
from app.core.db import dispose_engine, get_sessionmaker, init_engine
from app.core.security.keys import generate_keyset, write_keyset
from app.core.security.runtime import configure_security
from app.services.retention import RetentionPolicy, purge_expired
from app.services.users import ensure_admin


def write_new_keyset(path: Path, alg: str = "EdDSA") -> str:
    """Writes a one-key keyset; returns the active kid."""
    keyset = generate_keyset(alg)
    write_keyset(path, keyset)
    return keyset["active_kid"]


async def create_admin(settings: Settings, email: str, password: str, name: str) -> tuple[str, bool]:
    """Returns (user id, created)."""
    security = configure_security(settings)
    init_engine(settings)
    try:
        async with get_sessionmaker()() as session:
            user, created = await ensure_admin(session, security, email, password, name)
            return str(user.id), created
    finally:
        await dispose_engine()


async def purge(settings: Settings, policy: RetentionPolicy) -> dict[str, int] | None:
    """Rows deleted by kind, or None when another process holds the purge lock."""
    init_engine(settings)
    try:
        return await purge_expired(get_sessionmaker(), policy)
    finally:
        await dispose_engine()
