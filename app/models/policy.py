"""Published policy versions: an immutable copy of exactly what people read and accept."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UtcDateTime


class Audience(enum.StrEnum):
    """Who a section or a quiz question is for. A reader is MEMBERS or STAFF, never ALL."""

    ALL = "all"
    MEMBERS = "members"  # elected members (councillors)
    STAFF = "staff"

    @classmethod
    def of_reader(cls, elected_member: bool) -> Audience:
        """A person's own audience: councillors are marked as elected members (by the LMS's
        elected_member parameter or HR's roster); everyone else is staff."""
        return cls.MEMBERS if elected_member else cls.STAFF

    def includes(self, reader: Audience) -> bool:
        return self in (Audience.ALL, reader)


class Policy(Base):
    __tablename__ = "policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))


class PolicyVersion(Base):
    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("policy_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policy.id"))
    version: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[date] = mapped_column(Date)
    requires_reacceptance: Mapped[bool]
    intro_markdown: Mapped[str] = mapped_column(Text)
    intro_html: Mapped[str] = mapped_column(Text)
    # SHA-256 of the source text and metadata: the evidence of what was accepted.
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    policy: Mapped[Policy] = relationship()
    sections: Mapped[list[PolicySection]] = relationship(
        back_populates="version", order_by="PolicySection.position", cascade="all, delete-orphan"
    )


class PolicySection(Base):
    __tablename__ = "policy_section"
    __table_args__ = (UniqueConstraint("version_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    key: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    audience: Mapped[Audience] = mapped_column(
        Enum(Audience, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e])
    )
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)

    version: Mapped[PolicyVersion] = relationship(back_populates="sections")


class SectionRead(Base):
    """A person opened a section of a policy version: their progress, kept on the server."""

    __tablename__ = "section_read"
    __table_args__ = (UniqueConstraint("person_id", "version_id", "cycle", "section_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    section_key: Mapped[str] = mapped_column(String(100))
    # The journey this read belongs to: 1, then 2 after the first acceptance (a renewal)...
    cycle: Mapped[int] = mapped_column(default=1, server_default="1")
    first_read_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
