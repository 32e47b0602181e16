"""JWTs with an explicit type each (RFC 8725 §3.11), signed by the active key of the keyset.

Verification never trusts the token's header for the algorithm: the kid selects a key, and
the key's own algorithm is the only one accepted. Each type has its own ``typ`` header and
``token_use`` claim, and is validated only as that type, so an MFA token is never an access
token and vice versa. Refresh tokens are opaque and never JWTs, so no JWT check accepts one.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from app.core.errors import ServiceUnavailable, Unauthorized
from app.core.security.keys import SUPPORTED_ALGS, KeyManager, KeysetError

REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "token_use"]


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
        try:
            key = self.keys.verification_key(kid)
        except KeysetError:
            raise Unauthorized("signing keys unavailable") from None
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
        if claims["iat"] > time.time() + self.policy.leeway:
            raise Unauthorized("token issued in the future")
        return claims
