"""Question banks and quiz attempts. Attempts and submissions are only ever added to:
an attempt records the questions drawn, a submission its answers and score (one each).
A draft holds the answers ticked so far in an open attempt; it is overwritten, never marked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UtcDateTime


class QuizBank(Base):
    """A published question bank: changed questions make a new bank, old attempts keep theirs."""

    __tablename__ = "quiz_bank"
    __table_args__ = (UniqueConstraint("policy_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policy.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class QuizAttempt(Base):
    __tablename__ = "quiz_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    bank_id: Mapped[int] = mapped_column(ForeignKey("quiz_bank.id"))
    # The journey it belongs to (see SectionRead.cycle): passes count only within it.
    cycle: Mapped[int] = mapped_column(default=1, server_default="1")
    launch_id: Mapped[int | None] = mapped_column(ForeignKey("launch.id"))
    # The draw, in display order: [{"id": question id, "options": [option ids in order]}].
    drawn: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The settings in force when the attempt started (pass mark, limits), for the record.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Only when the organisation sets a time limit; extended by QuizExtension rows.
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)

    bank: Mapped[QuizBank] = relationship()
    submission: Mapped[QuizSubmission | None] = relationship(back_populates="attempt")


class QuizExtension(Base):
    """A learner asked for more time (WCAG 2.2.1: time limits can be extended)."""

    __tablename__ = "quiz_extension"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempt.id"), index=True)
    extended_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    new_deadline: Mapped[datetime] = mapped_column(UtcDateTime)


class QuizSubmission(Base):
    __tablename__ = "quiz_submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a second submission of the same attempt (double click, second tab, replayed
    # form) cannot be recorded, whatever the timing.
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempt.id"), unique=True)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # {question id: [option ids chosen]}
    answers: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    # [{"id": question id, "correct": bool}], in display order
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score: Mapped[int]
    total: Mapped[int]
    percent: Mapped[int]
    passed: Mapped[bool]

    attempt: Mapped[QuizAttempt] = relationship(back_populates="submission")


class QuizDraft(Base):
    """The answers ticked so far in an attempt, saved as the learner goes, so that a reload,
    leaving and coming back, or another device shows them again. Only the final form post is
    marked: a draft is a convenience, not a record."""

    __tablename__ = "quiz_draft"

    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempt.id"), primary_key=True)
    # {question id: [option ids ticked]}, as QuizSubmission.answers; unanswered ones left out.
    answers: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
