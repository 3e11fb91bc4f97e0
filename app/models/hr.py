"""What HR and managers do: API tokens for HR systems, and reminders sent to people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UtcDateTime


class ApiToken(Base):
    """A token an HR system uses to read one organisation's figures. Only its hash is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(12))  # shown, so people can tell tokens apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Reminder(Base):
    """One reminder e-mail: to whom, why, by whom (or the schedule), and what happened."""

    __tablename__ = "reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    # "manual", or the schedule's step: "assigned", "due_soon", "due_today", "overdue",
    # "renewal_open", "renewal_soon", "digest", "attempts_used"
    kind: Mapped[str] = mapped_column(String(30))
    # A key that makes a scheduled reminder unique (e.g. "overdue:2026-W48"): the same
    # run twice sends nothing twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    sent_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    to_address: Mapped[str] = mapped_column(String(320))
    cc_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # "pending", "sent", "failed" (tried again until max tries, then kept as failed)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    tries: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RosterUpload(Base):
    """A roster file HR has checked, kept so that the check page's one button imports exactly
    that file. Bound to the HR person and organisation, removed when imported or expired
    (app/services/roster.py: UPLOAD_LIFETIME)."""

    __tablename__ = "roster_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The address of the check page: not guessable, so ids of other uploads are not probed.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # The fingerprint of what the check showed (roster.plan_hash): the import is refused if
    # the file would now do anything else, so what is written is what HR was shown.
    plan_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
