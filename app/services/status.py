"""Where a person stands with the policy: the one place that decides it.

States: not started, in progress, quiz passed (awaiting acceptance), certified, due for
renewal (the renewal window is open) and expired. "Overdue" is separate: past the due date
and not certified.

An acceptance counts while it is in date and no version published after it requires
everyone to accept again. A version that does not (a minor correction) leaves earlier
acceptances standing.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    Acceptance,
    PolicyVersion,
    QuizAttempt,
    QuizSubmission,
    SectionRead,
)


class State(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    QUIZ_PASSED = "quiz_passed"
    CERTIFIED = "certified"
    DUE_FOR_RENEWAL = "due_for_renewal"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {
            "not_started": "Not started",
            "in_progress": "In progress",
            "quiz_passed": "Quiz passed: awaiting acceptance",
            "certified": "Completed",
            "due_for_renewal": "Due for renewal",
            "expired": "Expired",
        }[self.value]


def add_months(day: date, months: int) -> date:
    """Calendar months, keeping the day where the month has it (31 Jan + 1 = 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Validity:
    months: int = 12
    window_days: int = 30
    basis: str = "expiry"  # or "completion"


def next_valid_until(accepted_on: date, previous_until: date | None, rule: Validity) -> date:
    """The end of the period an acceptance on accepted_on starts.

    Counted from the previous expiry when renewing while still in date (the anniversary
    stays put) and the organisation chose "expiry"; otherwise from the acceptance date.
    """
    if rule.basis == "expiry" and previous_until is not None and accepted_on <= previous_until:
        return add_months(previous_until, rule.months)
    return add_months(accepted_on, rule.months)


def counting_versions(session: Session, current: PolicyVersion) -> list[int]:
    """The current version and the earlier ones whose acceptances still count: back to and
    including the latest one that required everyone to accept again."""
    versions = session.scalars(
        select(PolicyVersion)
        .where(
            PolicyVersion.policy_id == current.policy_id,
            PolicyVersion.published_at <= current.published_at,
        )
        .order_by(PolicyVersion.published_at.desc(), PolicyVersion.id.desc())
    )
    ids = []
    for version in versions:
        ids.append(version.id)
        if version.requires_reacceptance:
            break
    return ids


@dataclass(frozen=True)
class PersonStatus:
    state: State
    cycle: int  # the journey on the current version that reading and the quiz belong to
    acceptance: Acceptance | None  # the one that counts, if any
    passed: QuizSubmission | None  # a pass in the current journey, awaiting acceptance
    renewal_opens: date | None

    @property
    def journey_open(self) -> bool:
        return self.state is not State.CERTIFIED

    @property
    def valid_until(self) -> date | None:
        return self.acceptance.valid_until if self.acceptance else None


def person_status(
    session: Session, person_id: int, current: PolicyVersion, rule: Validity, today: date
) -> PersonStatus:
    accepted_current = (
        session.scalar(
            select(func.count())
            .select_from(Acceptance)
            .where(Acceptance.person_id == person_id, Acceptance.policy_version_id == current.id)
        )
        or 0
    )
    cycle = accepted_current + 1
    acceptance = session.scalars(
        select(Acceptance)
        .where(
            Acceptance.person_id == person_id,
            Acceptance.policy_version_id.in_(counting_versions(session, current)),
        )
        .order_by(Acceptance.accepted_at.desc(), Acceptance.id.desc())
        .limit(1)
    ).first()
    renewal_opens = None
    if acceptance is not None:
        renewal_opens = acceptance.valid_until - timedelta(days=rule.window_days)
        if today < renewal_opens:
            return PersonStatus(State.CERTIFIED, cycle, acceptance, None, renewal_opens)
    passed = session.scalars(
        select(QuizSubmission)
        .join(QuizAttempt)
        .where(
            QuizAttempt.person_id == person_id,
            QuizAttempt.policy_version_id == current.id,
            QuizAttempt.cycle == cycle,
            QuizSubmission.passed.is_(True),
        )
        .order_by(QuizSubmission.submitted_at.desc())
        .limit(1)
    ).first()
    if acceptance is not None:
        state = State.EXPIRED if today > acceptance.valid_until else State.DUE_FOR_RENEWAL
        return PersonStatus(state, cycle, acceptance, passed, renewal_opens)
    if passed is not None:
        return PersonStatus(State.QUIZ_PASSED, cycle, None, passed, None)
    started = session.scalar(
        select(func.count())
        .select_from(SectionRead)
        .where(
            SectionRead.person_id == person_id,
            SectionRead.version_id == current.id,
            SectionRead.cycle == cycle,
        )
    )
    state = State.IN_PROGRESS if started else State.NOT_STARTED
    return PersonStatus(state, cycle, None, None, None)
