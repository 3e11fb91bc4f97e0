"""Acceptances: the employment compliance record that a person accepted a policy version.

Never "consent" in the GDPR sense: accepting the policy is a condition of the job, and this
row is the evidence. Rows are only ever added (a PostgreSQL trigger refuses changes).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UtcDateTime
from app.models.people import Person
from app.models.policy import PolicyVersion


class Acceptance(Base):
    __tablename__ = "acceptance"
    # One per person, policy version and validity period (cycle 1, then each renewal).
    __table_args__ = (
        UniqueConstraint("person_id", "policy_version_id", "cycle"),
        # HR's completions per week: an organisation's acceptances in a date range.
        Index("ix_acceptance_organisation_accepted", "organisation_id", "accepted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    cycle: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    declaration_text: Mapped[str] = mapped_column(Text)
    declaration_hash: Mapped[str] = mapped_column(String(64))
    quiz_submission_id: Mapped[int | None] = mapped_column(ForeignKey("quiz_submission.id"))
    quiz_score: Mapped[int | None]
    typed_name: Mapped[str] = mapped_column(String(300))
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Set when only the day is known (a paper declaration is dated, not timed): then
    # accepted_at is that day's place in the order of events, not a time anyone recorded,
    # and pages, exports and the certificate show this date alone.
    accepted_on: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    launch_id: Mapped[int | None] = mapped_column(ForeignKey("launch.id"))
    lms_context_id: Mapped[int | None] = mapped_column(ForeignKey("lms_context.id"))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    # A short code printed on the certificate; HR resolves it to this record.
    verification_code: Mapped[str] = mapped_column(String(20), unique=True)
    # Set when HR records a paper (or otherwise offline) acceptance on someone's behalf.
    recorded_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    recorded_note: Mapped[str | None] = mapped_column(Text)
    # The audit event that recorded this acceptance (the organisation's chain at this seq), and
    # its hash: written first, so this append-only row can point to it. The certificate prints
    # both, so each copy a person keeps anchors the chain. None on acceptances recorded before.
    audit_seq: Mapped[int | None]
    audit_hash: Mapped[str | None] = mapped_column(String(64))

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    policy_version: Mapped[PolicyVersion] = relationship()


# Each person's latest acceptance, in the order the status query reads them (DISTINCT ON
# person, newest first), with the columns it needs: PostgreSQL answers it from the index
# alone, with no sort (the HR dashboard at 100,000 people: 315 ms to 245 ms).
Index(
    "ix_acceptance_latest",
    Acceptance.organisation_id,
    Acceptance.person_id,
    Acceptance.accepted_at.desc(),
    Acceptance.id.desc(),
    postgresql_include=[
        "policy_version_id",
        "valid_until",
        "quiz_score",
        "recorded_by_person_id",
        "accepted_on",
    ],
)
