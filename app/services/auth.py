"""Registration, login (with brute-force protection and the MFA second step), refresh, logout.

Unknown email and wrong password go through the same steps: throttle check, one argon2
verification (against a dummy hash when there is no user), failure count, audit row, and the
same 401 body.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import TooManyRequests, Unauthorized
from app.core.metrics import LOGINS, SIGNUPS
from app.core.security.tokens import TokenType
from app.models.user import User
from app.services import audit, mfa, outbox
from app.services.audit import Actor
from app.services.identity import Identity
from app.services.redis_safety import attempt
from app.services.refresh_tokens import IssuedRefreshToken, TokenReuseDetected
from app.services.users import create_user, find_by_email

BAD_CREDENTIALS = "invalid email or password"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


@dataclass(frozen=True)
class LoginOutcome:
    tokens: TokenPair | None = None
    mfa_token: str | None = None


class AuthService:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.security = identity.security

    # -- registration ------------------------------------------------------------------

    async def register(self, session: AsyncSession, *, email: str, password: str, name: str) -> User:
        user = await create_user(session, self.security, email=email, password=password, name=name)
        audit.record(session, "auth.register", Actor.user(user.id), subject_type="user", subject_id=user.id)
        await outbox.record_user_registered(session, user.id, user.role)
        await session.commit()
        SIGNUPS.inc()
        return user

    # -- tokens --------------------------------------------------------------------------

    def access_token(self, user: User, family_id: uuid.UUID, mfa_authenticated: bool) -> tuple[str, int]:
        return self.security.tokens.issue(TokenType.ACCESS, str(user.id), {
            "sid": str(family_id),
            "ver": user.token_version,
            "role": user.role,
            "amr": ["pwd", "otp"] if mfa_authenticated else ["pwd"],
        })

    def _pair(self, user: User, issued: IssuedRefreshToken) -> TokenPair:
        access, ttl = self.access_token(user, issued.family_id, issued.mfa_authenticated)
        return TokenPair(access_token=access, refresh_token=issued.token, expires_in=ttl)

    async def _start_session(self, session: AsyncSession, user: User, *, mfa_authenticated: bool,
                             ip: str | None) -> TokenPair:
        issued = await self.identity.refresh_tokens.start_family(session, user.id, mfa_authenticated=mfa_authenticated)
        user.last_login_at = dt.datetime.now(dt.UTC)
        audit.record(session, "auth.login.success", Actor.user(user.id, ip), subject_type="user", subject_id=user.id,
                     details={"mfa": mfa_authenticated, "session": str(issued.family_id)})
        pair = self._pair(user, issued)
        await session.commit()
        LOGINS.labels("success").inc()
        return pair

    # -- login -------------------------------------------------------------------------

    async def login(self, session: AsyncSession, *, email: str, password: str, ip: str) -> LoginOutcome:
        throttle = self.identity.throttle
        account = self.security.cipher.email_index(email)
        await self._check_throttle(account, ip)
        user = await find_by_email(session, self.security, email)
        passwords = self.security.passwords
        ok = await passwords.verify_async(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            await self._fail(session, account, ip, user, "inactive" if ok and user else "bad_credentials")
            raise Unauthorized(BAD_CREDENTIALS)
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = await passwords.hash_async(password)
        if user.mfa_enabled:
            # Failure counters are reset only after the second factor: otherwise someone who
            # knows the password could re-login between guesses and try codes for ever.
            token, _ = self.security.tokens.issue(TokenType.MFA, str(user.id), {"ver": user.token_version})
            audit.record(session, "auth.login.mfa_required", Actor.user(user.id, ip), subject_type="user",
                         subject_id=user.id)
            await session.commit()
            LOGINS.labels("mfa_required").inc()
            return LoginOutcome(mfa_token=token)
        await throttle.record_success(account, ip)
        return LoginOutcome(tokens=await self._start_session(session, user, mfa_authenticated=False, ip=ip))

    async def _check_throttle(self, account: str, ip: str) -> None:
        try:
            await self.identity.throttle.check(account, ip)
        except TooManyRequests:
            LOGINS.labels("locked").inc()
            raise

    async def _fail(self, session: AsyncSession, account: str, ip: str, user: User | None, reason: str) -> None:
        lockout = await self.identity.throttle.record_failure(account, ip)
        audit.record(session, "auth.login.failure", Actor.anonymous(ip), outcome="failure", subject_type="user",
                     subject_id=user.id if user else None,
                     details={"reason": reason, "lockout_seconds": lockout, "account_ref": account[:16]})
        await session.commit()
        LOGINS.labels("failure").inc()

    async def login_mfa(self, session: AsyncSession, *, mfa_token: str, code: str, ip: str) -> TokenPair:
        claims = self.security.tokens.verify(mfa_token, TokenType.MFA)
        user = await session.get(User, uuid.UUID(claims["sub"]))
        if user is None or not user.is_active or not user.mfa_enabled or user.token_version != claims.get("ver"):
            raise Unauthorized("MFA challenge is no longer valid; log in again")
        await self._check_throttle(user.email_blind_index, ip)
        if not await mfa.verify_second_factor(session, self.security, user, code):
            await self._fail(session, user.email_blind_index, ip, user, "bad_mfa_code")
            raise Unauthorized("invalid MFA code")
        if not await self._first_use_of(claims["jti"], int(claims["exp"] - dt.datetime.now(dt.UTC).timestamp())):
            await session.rollback()
            raise Unauthorized("MFA challenge already used; log in again")
        await self.identity.throttle.record_success(user.email_blind_index, ip)
        return await self._start_session(session, user, mfa_authenticated=True, ip=ip)

    async def _first_use_of(self, jti: str, ttl: int) -> bool:
        # One session per challenge. Without Redis the code itself is still single-use
        # (TOTP steps and recovery codes are recorded in PostgreSQL).
        if self.identity.redis is None:
            return True
        redis = self.identity.redis

        async def mark() -> bool:  # SET NX answers None when the key already exists
            return bool(await redis.set(f"mfa-jti:{jti}", "1", nx=True, ex=max(1, ttl + 60)))

        # None means Redis is unavailable: fail open, as explained above.
        return await attempt(redis, mark(), "mfa challenge mark") is not False

    # -- refresh and logout --------------------------------------------------------------

    async def refresh(self, session: AsyncSession, *, refresh_token: str, ip: str) -> TokenPair:
        try:
            issued = await self.identity.refresh_tokens.rotate(session, refresh_token, ip)
        except TokenReuseDetected as exc:
            await self.identity.session_state.mark_revoked(exc.user_id, [exc.family_id])
            raise
        user = await session.get(User, issued.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("account is not active")
        return self._pair(user, issued)

    async def logout(self, session: AsyncSession, *, refresh_token: str, ip: str) -> None:
        family = await self.identity.refresh_tokens.family_of(session, refresh_token)
        if family is None:
            raise Unauthorized("invalid refresh token")
        if await self.identity.refresh_tokens.revoke_family(family, "logout"):
            audit.record(session, "auth.logout", Actor.user(family.user_id, ip), subject_type="user",
                         subject_id=family.user_id, details={"session": str(family.id)})
        await session.commit()
        await self.identity.session_state.mark_revoked(family.user_id, [family.id])
