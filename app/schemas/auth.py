"""Auth request and response bodies. Inputs forbid unknown fields (no mass assignment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from app.core.security.passwords import MAX_LENGTH, MIN_LENGTH


class IdentityInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _clean_name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("name must not be blank")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError("name must not contain control characters")
    return value


class RegisterIn(IdentityInput):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    name: str = Field(min_length=1, max_length=100)

    _name = field_validator("name")(_clean_name)


class LoginIn(IdentityInput):
    # Any string up to the limit: a malformed email must fail like an unknown one.
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class MfaLoginIn(IdentityInput):
    mfa_token: str = Field(min_length=1, max_length=4096)
    code: str = Field(min_length=6, max_length=32, description="A 6-digit TOTP code or a recovery code")


class RefreshIn(IdentityInput):
    refresh_token: str = Field(min_length=1, max_length=256)


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Access-token lifetime in seconds")


class MfaChallengeOut(BaseModel):
    mfa_required: Literal[True] = True
    mfa_token: str = Field(description="Short-lived; send it with a code to POST /auth/login/mfa")


class TotpEnrollOut(BaseModel):
    secret: str = Field(description="Base32 TOTP secret; shown only in this response")
    otpauth_uri: str


class TotpConfirmIn(IdentityInput):
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


class TotpConfirmOut(BaseModel):
    mfa_enabled: Literal[True] = True
    recovery_codes: list[str] = Field(description="Single-use codes; shown only in this response")


class TotpDisableIn(IdentityInput):
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    code: str = Field(min_length=6, max_length=32, description="A current TOTP code or a recovery code")
