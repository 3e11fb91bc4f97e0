"""People known to the tool: one row per LTI identity (issuer, subject) within an organisation."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UtcDateTime


class Role(enum.StrEnum):
    """What a person may do in the tool during one visit, mapped from their LTI roles."""

    LEARNER = "learner"
    MANAGER = "manager"
    HR = "hr"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {"learner": "Learner", "manager": "Manager", "hr": "HR", "admin": "Administrator"}[
            self.value
        ]


class Person(Base):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("organisation_id", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(300), default="")
    given_name: Mapped[str | None] = mapped_column(String(150))
    family_name: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    last_lti_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Councillors and officers accept the same policy but read some different sections.
    elected_member: Mapped[bool] = mapped_column(default=False, server_default=false())
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_launch_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
