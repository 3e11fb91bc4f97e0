"""The audit trail: every state change, hash-chained per organisation.

Each event stores the hash of the one before it and of its own canonical content, so that
`flask audit verify` can show that nothing was edited, removed or reordered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UtcDateTime


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("organisation_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    seq: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(50))
    # Who did it: a person of the organisation, or a named operator/process ("cli", "system").
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    actor: Mapped[str | None] = mapped_column(String(100))
    subject_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The end of each organisation's chain; appending locks it, so events queue in order."""

    __tablename__ = "audit_head"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    # The hash before the latest event: how one statement that moves the head hands the
    # event its prev_hash (an upsert returns only the new row).
    prev_hash: Mapped[str | None] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """That a checkpoint of a chain was written outside the database: for HR's pages.

    The checkpoint itself is the signed file (and e-mail); this row only says one was taken.
    Rows are only ever added (a PostgreSQL trigger refuses changes).
    """

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    file_name: Mapped[str] = mapped_column(String(200))
    emailed_to: Mapped[str | None] = mapped_column(String(320))


class AuditVerification(Base):
    """The result of one `audit verify` run for one organisation: for HR's pages.

    No foreign key: a result must be recordable about an organisation whose rows are gone.
    Rows are only ever added (a PostgreSQL trigger refuses changes).
    """

    __tablename__ = "audit_verification"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(index=True)
    ran_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ok: Mapped[bool]
    events: Mapped[int]
    # How many checkpoints the chain was compared with (0: run without --checkpoints).
    checkpoints: Mapped[int]
    problem: Mapped[str | None] = mapped_column(Text)
