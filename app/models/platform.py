"""LMS platforms registered with the tool, and their deployments (each belongs to one council)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UtcDateTime
from app.models.organisation import Organisation


class PlatformRegistration(Base):
    __tablename__ = "platform_registration"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    auth_audience: Mapped[str | None] = mapped_column(String(1000))
    jwks_url: Mapped[str] = mapped_column(String(1000))
    # Origins allowed to frame the tool, space separated (Canvas frames from the
    # council's own instance, which is neither its issuer nor its login URL).
    frame_origins: Mapped[str] = mapped_column(Text, default="")
    # Extra origins a launch's service URLs (AGS, NRPS) may be on, space separated; those of
    # the login, token and JWKS URLs are always allowed.
    service_origins: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Set by dynamic registration when the platform named no deployment (Canvas adds them
    # later): a launch from a new deployment of this registration belongs to this organisation.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="Deployment.id"
    )


class Deployment(Base):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("registration_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("platform_registration.id"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    registration: Mapped[PlatformRegistration] = relationship(back_populates="deployments")
    organisation: Mapped[Organisation] = relationship()
