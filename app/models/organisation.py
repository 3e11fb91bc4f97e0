"""Organisations (tenants: one council each) and their LTI role overrides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UtcDateTime, utcnow
from app.models.people import Role


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    role_mappings: Mapped[list[RoleMapping]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )


class RoleMapping(Base):
    """An organisation's own reading of an LTI role (e.g. a custom Totara role -> manager)."""

    __tablename__ = "role_mapping"
    __table_args__ = (UniqueConstraint("organisation_id", "lti_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    lti_role: Mapped[str] = mapped_column(String(500))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )

    organisation: Mapped[Organisation] = relationship(back_populates="role_mappings")
