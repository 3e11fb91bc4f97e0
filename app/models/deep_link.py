"""A course editor's pending deep linking request: what the LMS asked for, until answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime


class DeepLinkRequest(Base):
    """One LtiDeepLinkingRequest, answered at most once, within its lifetime.

    The choice form carries a signed token naming this row and a secret; only the secret's
    hash is kept, so a copy of the database cannot answer the LMS in an editor's name."""

    __tablename__ = "deep_link_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("platform_registration.id"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    # The deep_linking_settings claim as lti/ checked it (return URL, accepted types, data).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    editor_name: Mapped[str] = mapped_column(String(300))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
