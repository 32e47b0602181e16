"""User bodies. Self-service input carries only name and password; admins set role/active."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from app.core.security.passwords import MAX_LENGTH, MIN_LENGTH
from app.schemas.auth import IdentityInput, _clean_name


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Literal["customer", "admin"]
    is_active: bool
    mfa_enabled: bool
    created_at: dt.datetime


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    limit: int


class MeUpdateIn(IdentityInput):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    password: str | None = Field(default=None, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    current_password: str | None = Field(default=None, min_length=1, max_length=MAX_LENGTH)

    _name = field_validator("name")(lambda v: _clean_name(v) if v is not None else v)

    @model_validator(mode="after")
    def _password_needs_current(self) -> MeUpdateIn:
        if self.password is not None and self.current_password is None:
            raise ValueError("current_password is required to change the password")
        if self.name is None and self.password is None:
            raise ValueError("nothing to update: give name and/or password")
        return self


class AdminUserUpdateIn(IdentityInput):
    role: Literal["customer", "admin"] | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> AdminUserUpdateIn:
        if self.role is None and self.is_active is None:
            raise ValueError("nothing to update: give role and/or is_active")
        return self
