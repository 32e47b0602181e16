"""API key bodies: the secret appears only in the creation response."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field, field_validator

from app.schemas.auth import IdentityInput, _clean_name
from app.services.api_keys import SCOPES


class ApiKeyCreateIn(IdentityInput):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES),
                              description="Any of: " + ", ".join(f"`{s}`" for s in SCOPES))

    _name = field_validator("name")(_clean_name)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scopes {unknown}; allowed: {sorted(SCOPES)}")
        return sorted(set(value))


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The API key itself, for the X-API-Key header; shown only in this response")
