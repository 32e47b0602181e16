"""JWTs with an explicit type each (RFC 8725 §3.11), signed by the active key of the keyset.

Verification never trusts the token's header for the algorithm: the kid selects a key, and
the key's own algorithm is the only one accepted. Each type has its own ``typ`` header and
``token_use`` claim, and is validated only as that type, so an MFA token is never an access
token and vice versa. Refresh tokens are opaque and never JWTs, so no JWT check accepts one.

A client presents the same access token for up to its whole lifetime, so a token that passed
every check is remembered (the exact string, for the keyset it was verified with): presented
again, only its time claims are checked anew, and the signature check and the parsing are
skipped. A changed keyset (rotation, a key removed) forgets every remembered token, so a
token of a removed key is refused at once. Failures are never remembered.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from app.core.errors import ServiceUnavailable, Unauthorized
from app.core.security.keys import SUPPORTED_ALGS, KeyManager, Keyset, KeysetError

REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "token_use"]
# Verified tokens remembered per process; the oldest goes first beyond this.
VERIFIED_CACHE_SIZE = 4096


class TokenType(enum.Enum):
    ACCESS = ("at+jwt", "access")
    MFA = ("mfa+jwt", "mfa")

    def __init__(self, typ: str, use: str):
        self.typ = typ
        self.use = use


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_ttl: int
    mfa_ttl: int
    leeway: int


class TokenService:
    def __init__(self, keys: KeyManager, policy: TokenPolicy):
        self.keys = keys
        self.policy = policy
        self._verified: dict[tuple[TokenType, str], dict[str, Any]] = {}
        self._verified_keyset: Keyset | None = None

    def _ttl(self, token_type: TokenType) -> int:
        return self.policy.access_ttl if token_type is TokenType.ACCESS else self.policy.mfa_ttl

    def issue(self, token_type: TokenType, subject: str, claims: dict[str, Any] | None = None) -> tuple[str, int]:
        """Returns the signed token and its lifetime in seconds."""
        try:
            key = self.keys.signing_key()
        except KeysetError:
            raise ServiceUnavailable("signing keys are not loaded; retry shortly", headers={"Retry-After": "5"}) from None
        now = int(time.time())
        ttl = self._ttl(token_type)
        payload = {
            **(claims or {}),
            "iss": self.policy.issuer,
            "aud": self.policy.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "token_use": token_type.use,
        }
        token = jwt.encode(payload, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": token_type.typ})
        return token, ttl

    def verify(self, token: str, token_type: TokenType) -> dict[str, Any]:
        """Claims of a valid token of exactly this type; anything else is Unauthorized."""
        try:
            keyset = self.keys.keyset
        except KeysetError:
            raise Unauthorized("signing keys unavailable") from None
        if keyset is not self._verified_keyset:
            self._verified.clear()
            self._verified_keyset = keyset
        claims = self._verified.get((token_type, token))
        if claims is None:
            claims = self._verify_signed(token, token_type, keyset)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
            self._verified[(token_type, token)] = claims
        self._check_times(claims)
        return dict(claims)

    def _check_times(self, claims: dict[str, Any]) -> None:
        """exp, nbf and iat against the clock now (the signature check did so at its time)."""
        now, leeway = time.time(), self.policy.leeway
        if claims["exp"] <= now - leeway:
            raise Unauthorized("token expired")
        if claims["nbf"] > now + leeway:
            raise Unauthorized("invalid token")
        if claims["iat"] > now + leeway:
            raise Unauthorized("token issued in the future")

    def _verify_signed(self, token: str, token_type: TokenType, keyset: Keyset) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in SUPPORTED_ALGS:
            raise Unauthorized("token algorithm not accepted")
        if header.get("typ") != token_type.typ:
            raise Unauthorized(f"not an {token_type.use} token")
        if not isinstance(kid, str):
            raise Unauthorized("token has no key id")
        key = keyset.keys.get(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        if alg != key.alg:
            raise Unauthorized("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.alg],
                audience=self.policy.audience,
                issuer=self.policy.issuer,
                leeway=self.policy.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True, "verify_exp": True,
                         "verify_nbf": True, "verify_iat": True, "verify_aud": True, "verify_iss": True},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid token") from None
        if claims.get("token_use") != token_type.use:
            raise Unauthorized(f"not an {token_type.use} token")
        if not all(isinstance(claims[c], (int, float)) for c in ("exp", "nbf", "iat")):
            raise Unauthorized("invalid token")
        return claims
