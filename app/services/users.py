"""Users: creation (registration and the seed admin), lookup, self-service and admin changes."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.security.crypto import normalize_email
from app.core.security.passwords import WeakPassword, check_password_policy
from app.core.security.runtime import Security
from app.models.user import User
from app.services import audit
from app.services.audit import Actor
from app.services.identity import Identity


@dataclass(frozen=True)
class UserView:
    """A user with its PII decrypted, for responses."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    is_active: bool
    mfa_enabled: bool
    created_at: dt.datetime


def view(security: Security, user: User | Row) -> UserView:
    """From the ORM object or from a row of PROFILE_COLUMNS."""
    cipher = security.cipher
    return UserView(
        id=user.id,
        email=cipher.decrypt(user.email_ciphertext, context="users.email"),
        name=cipher.decrypt(user.name_ciphertext, context="users.name"),
        role=user.role,
        is_active=user.is_active,
        mfa_enabled=user.mfa_enabled,
        created_at=user.created_at,
    )


def weak_password_error(exc: WeakPassword, field: str = "body.password") -> Unprocessable:
    return Unprocessable(str(exc), errors=[{"field": field, "message": str(exc), "type": "weak_password"}])


async def find_by_email(session: AsyncSession, security: Security, email: str) -> User | None:
    index = security.cipher.email_index(email)
    return (await session.execute(select(User).where(User.email_blind_index == index))).scalar_one_or_none()


async def create_user(session: AsyncSession, security: Security, *, email: str, password: str, name: str,
                      role: str = "customer") -> User:
    """Checks the password policy, hashes, encrypts and inserts; the caller commits.
    Conflict when the email is taken."""
    email = normalize_email(email)
    try:
        check_password_policy(password, email=email, name=name)
    except WeakPassword as exc:
        raise weak_password_error(exc) from None
    cipher = security.cipher
    user = User(
        id=uuid.uuid4(),
        email_ciphertext=cipher.encrypt(email, context="users.email"),
        email_blind_index=cipher.email_index(email),
        name_ciphertext=cipher.encrypt(name, context="users.name"),
        password_hash=await security.passwords.hash_async(password),
        role=role,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict("an account with this email already exists") from None
    return user


async def ensure_admin(session: AsyncSession, security: Security, email: str, password: str, name: str) -> tuple[User, bool]:
    """The seed admin: created if missing, else promoted, re-activated and given this password.
    Returns (user, created). Commits."""
    user = await find_by_email(session, security, email)
    if user is None:
        user = await create_user(session, security, email=email, password=password, name=name, role="admin")
        created = True
    else:
        try:
            check_password_policy(password, email=email, name=name)
        except WeakPassword as exc:
            raise weak_password_error(exc) from None
        user.role, user.is_active = "admin", True
        user.password_hash = await security.passwords.hash_async(password)
        user.token_version += 1
        created = False
    await session.commit()
    return user, created


# What a response shows of a user (see view): no password hash, no MFA secrets.
PROFILE_COLUMNS = (User.id, User.email_ciphertext, User.name_ciphertext, User.role, User.is_active,
                   User.mfa_enabled, User.created_at)


async def get_profile(session: AsyncSession, security: Security, user_id: uuid.UUID) -> UserView:
    """The user as a response shows it: one select of those columns, no ORM object."""
    row = (await session.execute(select(*PROFILE_COLUMNS).where(User.id == user_id))).one_or_none()
    if row is None:
        raise NotFound("user not found")
    return view(security, row)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def update_me(session: AsyncSession, identity: Identity, user: User, *, name: str | None,
                    password: str | None, current_password: str | None) -> User:
    """Name and/or password. A password change needs the current one and ends every session."""
    security = identity.security
    ended: list[uuid.UUID] = []
    if password is not None:
        if not current_password or not await security.passwords.verify_async(user.password_hash, current_password):
            raise Forbidden("current password is incorrect")
        email = security.cipher.decrypt(user.email_ciphertext, context="users.email")
        try:
            check_password_policy(password, email=email, name=name or security.cipher.decrypt(user.name_ciphertext, context="users.name"))
        except WeakPassword as exc:
            raise weak_password_error(exc) from None
        user.password_hash = await security.passwords.hash_async(password)
        user.token_version += 1
        ended = await identity.refresh_tokens.revoke_all_for_user(session, user.id, "password_changed")
        audit.record(session, "user.password_changed", Actor.user(user.id), subject_type="user", subject_id=user.id,
                     details={"sessions_ended": len(ended)})
    if name is not None:
        user.name_ciphertext = security.cipher.encrypt(name, context="users.name")
    await session.commit()
    if password is not None:
        await identity.session_state.store_user(user)
        await identity.session_state.mark_revoked(user.id, ended)
    return user


def _encode_cursor(user: User) -> str:
    return base64.urlsafe_b64encode(f"{user.created_at.isoformat()}|{user.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|", 1)
        return dt.datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Unprocessable("invalid cursor", errors=[{"field": "query.cursor", "message": "invalid cursor",
                                                        "type": "value_error"}]) from None


async def list_users(session: AsyncSession, security: Security, *, limit: int, cursor: str | None,
                     email: str | None) -> tuple[list[User], str | None]:
    query = select(User).order_by(User.created_at, User.id).limit(limit + 1)
    if email:
        query = query.where(User.email_blind_index == security.cipher.email_index(email))
    if cursor:
        after_at, after_id = _decode_cursor(cursor)
        query = query.where(or_(User.created_at > after_at, and_(User.created_at == after_at, User.id > after_id)))
    rows = list((await session.execute(query)).scalars())
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def admin_update(session: AsyncSession, identity: Identity, admin_id: uuid.UUID, user_id: uuid.UUID, *,
                       role: str | None, is_active: bool | None) -> User:
    """Role and active flag. Deactivation ends every session; an admin cannot demote or
    deactivate themselves (there must always be someone able to undo it)."""
    user = await get_user(session, user_id)
    if user.id == admin_id and ((role is not None and role != user.role) or is_active is False):
        raise Conflict("administrators cannot demote or deactivate themselves")
    actor = Actor.user(admin_id)
    ended: list[uuid.UUID] = []
    if role is not None and role != user.role:
        audit.record(session, "user.role_changed", actor, subject_type="user", subject_id=user.id,
                     details={"from": user.role, "to": role})
        user.role = role
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            user.token_version += 1
            ended = await identity.refresh_tokens.revoke_all_for_user(session, user.id, "deactivated")
        audit.record(session, "user.deactivated" if not is_active else "user.reactivated", actor,
                     subject_type="user", subject_id=user.id, details={"sessions_ended": len(ended)})
    await session.commit()
    await identity.session_state.store_user(user)
    await identity.session_state.mark_revoked(user.id, ended)
    return user
