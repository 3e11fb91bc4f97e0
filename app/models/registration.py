"""LTI Dynamic Registration: invitations to register an LMS, and each attempt to use one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UtcDateTime


class RegistrationInvite(Base):
    """A single-use, expiring registration URL made for one organisation.

    Only the SHA-256 of the URL's token is kept: a database backup gives no usable URL.
    """

    __tablename__ = "registration_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("platform_registration.id"))


class RegistrationAttempt(Base):
    """One LMS's attempt to register through an invite: what was read from it, and the outcome.

    The platform's registration token is kept encrypted, and only while the attempt runs.
    """

    __tablename__ = "registration_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("registration_invite.id"), index=True)
    # SHA-256 of the secret in the attempt page's URL (neither invite nor registration token).
    page_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    openid_configuration_url: Mapped[str] = mapped_column(String(1000))
    registration_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # reading -> ready -> registering -> registered; any of them -> failed
    status: Mapped[str] = mapped_column(String(20))
    platform_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("platform_registration.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
