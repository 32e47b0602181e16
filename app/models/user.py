"""Users. Email and name are PII: stored encrypted, the email also as a keyed blind index
so that uniqueness and lookup work without the plaintext."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Integer, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamps, UUIDPrimaryKey

ROLES = ("customer", "admin")


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('customer', 'admin')", name="role"),)

    email_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    email_blind_index: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'customer'"), default="customer")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"), default=True)
    # Bumped when every session of the user must end (password change, deactivation);
    # access tokens carry the version they were issued under.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"), default=0)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"), default=False)
    mfa_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Enrolled but not yet confirmed with a first code.
    mfa_pending_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Last TOTP time step accepted, so a code is never accepted twice.
    mfa_last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
