"""TOTP enrolment, confirmation, disabling and the second-factor check at login."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Forbidden
from app.core.security import totp
from app.core.security.runtime import Security
from app.models.mfa import MfaRecoveryCode
from app.models.user import User
from app.services import audit
from app.services.audit import Actor

_SECRET_CONTEXT = "users.mfa_secret"  # noqa: S105 - the AEAD context (column name), not a secret


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str


def _recovery_hash(security: Security, user: User, code: str) -> str:
    return security.cipher.keyed_digest(f"{user.id}:{totp.normalize_recovery_code(code)}", context="mfa.recovery")


async def enroll(session: AsyncSession, security: Security, user: User) -> Enrolment:
    """A fresh pending secret, shown once; replaces any earlier unconfirmed one."""
    if user.mfa_enabled:
        raise Conflict("MFA is already enabled; disable it first to enrol a new authenticator")
    secret = totp.new_secret()
    user.mfa_pending_secret_ciphertext = security.cipher.encrypt(secret, context=_SECRET_CONTEXT)
    email = security.cipher.decrypt(user.email_ciphertext, context="users.email")
    await session.commit()
    return Enrolment(secret, totp.provisioning_uri(secret, email, security.settings.jwt_issuer))


async def confirm(session: AsyncSession, security: Security, user: User, code: str) -> list[str]:
    """Activates the pending secret after a valid code; returns the recovery codes (shown once)."""
    if user.mfa_enabled:
        raise Conflict("MFA is already enabled")
    if user.mfa_pending_secret_ciphertext is None:
        raise Conflict("no enrolment in progress; call /auth/mfa/totp/enroll first")
    secret = security.cipher.decrypt(user.mfa_pending_secret_ciphertext, context=_SECRET_CONTEXT)
    step = totp.matching_step(secret, code, None)
    if step is None:
        # 403, not 401: the caller's login is fine, the proof of the authenticator is not.
        raise Forbidden("invalid MFA code")
    user.mfa_secret_ciphertext = user.mfa_pending_secret_ciphertext
    user.mfa_pending_secret_ciphertext = None
    user.mfa_enabled = True
    user.mfa_last_used_step = step
    codes = totp.new_recovery_codes()
    await session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    session.add_all(MfaRecoveryCode(user_id=user.id, code_hash=_recovery_hash(security, user, c)) for c in codes)
    audit.record(session, "auth.mfa.enabled", Actor.user(user.id), subject_type="user", subject_id=user.id)
    await session.commit()
    return codes


async def disable(session: AsyncSession, security: Security, user: User, *, password: str, code: str) -> None:
    """Needs the password and a current code (or a recovery code)."""
    if not user.mfa_enabled:
        raise Conflict("MFA is not enabled")
    if user.role == "admin" and security.settings.mfa_required_for_admins:
        raise Forbidden("MFA is required for administrators")
    if not await security.passwords.verify_async(user.password_hash, password):
        raise Forbidden("password is incorrect")
    if not await verify_second_factor(session, security, user, code):
        raise Forbidden("invalid MFA code")
    user.mfa_enabled = False
    user.mfa_secret_ciphertext = None
    user.mfa_pending_secret_ciphertext = None
    user.mfa_last_used_step = None
    await session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    audit.record(session, "auth.mfa.disabled", Actor.user(user.id), subject_type="user", subject_id=user.id)
    await session.commit()


async def verify_second_factor(session: AsyncSession, security: Security, user: User, code: str) -> bool:
    """A TOTP code not used before, or an unused recovery code (then spent). Flushes, the
    caller commits."""
    if not user.mfa_enabled or user.mfa_secret_ciphertext is None:
        return False
    secret = security.cipher.decrypt(user.mfa_secret_ciphertext, context=_SECRET_CONTEXT)
    # Claim the step atomically so two concurrent logins cannot both spend one code.
    step = totp.matching_step(secret, code, user.mfa_last_used_step)
    if step is not None:
        claimed = await session.execute(
            update(User)
            .where(User.id == user.id, (User.mfa_last_used_step.is_(None)) | (User.mfa_last_used_step < step))
            .values(mfa_last_used_step=step)
            .returning(User.id)
        )
        if claimed.scalar_one_or_none() is None:
            return False
        user.mfa_last_used_step = step
        return True
    if len(code.strip()) < 10:
        return False
    spent = await session.execute(
        update(MfaRecoveryCode)
        .where(MfaRecoveryCode.code_hash == _recovery_hash(security, user, code), MfaRecoveryCode.used_at.is_(None),
               MfaRecoveryCode.user_id == user.id)
        .values(used_at=dt.datetime.now(dt.UTC))
        .returning(MfaRecoveryCode.id)
    )
    return spent.scalar_one_or_none() is not None


async def remaining_recovery_codes(session: AsyncSession, user: User) -> int:
    rows = await session.execute(
        select(MfaRecoveryCode.id).where(MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None))
    )
    return len(rows.all())
