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
from functools import cache
from typing import Any

from sqlalchemy import Date, Integer, Select, bindparam, case, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from app.models import (
    Acceptance,
    Person,
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


def counting_versions(session: Session, current: Any) -> list[int]:
    """The current version and the earlier ones whose acceptances still count: back to and
    including the latest one that required everyone to accept again."""
    known = getattr(current, "counting", None)
    if known:
        return list(known)
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
class Today:
    """The dates a status depends on: today, and the organisation's windows around it."""

    today: date
    rule: Validity
    due_days: int
    due_from: str = "assignment"  # or "start_date"

    @property
    def renewal_cutoff(self) -> date:
        # Certified while valid_until is beyond today + the renewal window.
        return self.today + timedelta(days=self.rule.window_days)

    @property
    def due_cutoff(self) -> date:
        # Overdue when assigned before this (today - due_days), never accepted.
        return self.today - timedelta(days=self.due_days)


def status_params(
    organisation_id: int,
    current_id: int,
    counting: list[int],
    when: Today,
    person_id: int | None = None,
) -> dict[str, Any]:
    """The values status_query's statement runs with."""
    params: dict[str, Any] = {
        "sq_org": organisation_id,
        "sq_version": current_id,
        "sq_counting": counting,
        "sq_renewal_cutoff": when.renewal_cutoff,
        "sq_today": when.today,
    }
    if person_id is not None:
        params["sq_person"] = person_id
    return params


@cache
def status_query(
    due_from: str = "assignment", one_person: bool = False, dialect: str = "sqlite"
) -> Select[Any]:
    """One row per person of an organisation with their state: the single definition of
    the states, for one learner's page and for HR's figures over everyone alike.

    Built once per shape (it is a large statement) and run with status_params(); one_person
    limits it to params["sq_person"] so a learner's page does not rank the whole council.
    """
    version = bindparam("sq_version", type_=Integer)
    # One pass over the counting acceptances gives each person's latest one and how many
    # they have of the current version (the journey number), with no per-person lookups.
    newest_first = (Acceptance.accepted_at.desc(), Acceptance.id.desc())
    columns = [
        Acceptance.id.label("acceptance_id"),
        Acceptance.person_id,
        Acceptance.accepted_at,
        Acceptance.accepted_on,
        Acceptance.valid_until,
        Acceptance.quiz_score,
        Acceptance.policy_version_id.label("accepted_version_id"),
        Acceptance.recorded_by_person_id,
        func.count()
        .filter(Acceptance.policy_version_id == version)
        .over(partition_by=Acceptance.person_id)
        .label("on_current"),
    ]
    scope = (
        Acceptance.organisation_id == bindparam("sq_org", type_=Integer),
        Acceptance.policy_version_id.in_(bindparam("sq_counting", expanding=True)),
        *((Acceptance.person_id == bindparam("sq_person"),) if one_person else ()),
    )
    if dialect == "postgresql":
        # DISTINCT ON: PostgreSQL estimates its rows from the statistics (one per person),
        # where it guessed "rank = 1" at 0.5% of them and chose nested loops that took
        # seconds over 100,000 people.
        latest = (
            select(*columns)
            .where(*scope)
            .ext(distinct_on(Acceptance.person_id))
            .order_by(Acceptance.person_id, *newest_first)
            .subquery("latest")
        )
    else:
        rank = func.row_number().over(partition_by=Acceptance.person_id, order_by=newest_first)
        ranked = select(*columns, rank.label("rank")).where(*scope).subquery()
        latest = select(ranked).where(ranked.c.rank == 1).subquery("latest")
    cycle = func.coalesce(latest.c.on_current, 0) + 1
    passed = (
        select(QuizSubmission.id)
        .join(QuizAttempt)
        .where(
            QuizAttempt.person_id == Person.id,
            QuizAttempt.policy_version_id == version,
            QuizAttempt.cycle == cycle,
            QuizSubmission.passed.is_(True),
        )
        .correlate(Person, latest)
        .exists()
    )
    started = (
        select(SectionRead.id)
        .where(
            SectionRead.person_id == Person.id,
            SectionRead.version_id == version,
            SectionRead.cycle == cycle,
        )
        .correlate(Person, latest)
        .exists()
    )
    state = case(
        (latest.c.valid_until > bindparam("sq_renewal_cutoff", type_=Date), "certified"),
        (latest.c.valid_until >= bindparam("sq_today", type_=Date), "due_for_renewal"),
        (latest.c.acceptance_id.isnot(None), "expired"),
        (passed, "quiz_passed"),
        (started, "in_progress"),
        else_="not_started",
    ).label("state")
    basis = (
        case((Person.start_date.isnot(None), Person.start_date), else_=Person.assigned_on)
        if due_from == "start_date"
        else Person.assigned_on
    )
    query = (
        select(
            Person.id.label("person_id"),
            state,
            cycle.label("cycle"),
            latest.c.acceptance_id,
            latest.c.accepted_at,
            latest.c.accepted_on,
            latest.c.valid_until,
            latest.c.quiz_score,
            latest.c.accepted_version_id,
            latest.c.recorded_by_person_id,
            basis.label("due_basis"),
        )
        .outerjoin(latest, latest.c.person_id == Person.id)
        .where(Person.organisation_id == bindparam("sq_org", type_=Integer))
    )
    if one_person:
        query = query.where(Person.id == bindparam("sq_person"))
    return query


@dataclass(frozen=True)
class PersonStatus:
    state: State
    cycle: int  # the journey on the current version that reading and the quiz belong to
    acceptance: Acceptance | None  # the one that counts, if any
    passed: QuizSubmission | None  # a pass in the current journey, awaiting acceptance
    renewal_opens: date | None
    due_date: date | None = None

    @property
    def journey_open(self) -> bool:
        return self.state is not State.CERTIFIED

    @property
    def valid_until(self) -> date | None:
        return self.acceptance.valid_until if self.acceptance else None

    def overdue(self, today: date) -> bool:
        return self.acceptance is None and self.due_date is not None and today > self.due_date


def person_status(
    session: Session, organisation_id: int, person_id: int, current: Any, when: Today
) -> PersonStatus:
    params = status_params(
        organisation_id, current.id, counting_versions(session, current), when, person_id
    )
    query = status_query(when.due_from, one_person=True, dialect=session.get_bind().dialect.name)
    # Run as Core on the session's connection: the ORM's handling of this column-only select
    # cost a third of its time. Flushed first, as the ORM would have done.
    session.flush()
    row = session.connection().execute(query, params).one()
    state = State(row.state)
    acceptance = session.get(Acceptance, row.acceptance_id) if row.acceptance_id else None
    passed = None
    # Not started, or reading: the statement found no pass in this journey, so don't look.
    if state in (State.QUIZ_PASSED, State.DUE_FOR_RENEWAL, State.EXPIRED):
        passed = session.scalars(
            select(QuizSubmission)
            .join(QuizAttempt)
            .where(
                QuizAttempt.person_id == person_id,
                QuizAttempt.policy_version_id == current.id,
                QuizAttempt.cycle == row.cycle,
                QuizSubmission.passed.is_(True),
            )
            .order_by(QuizSubmission.submitted_at.desc())
            .limit(1)
        ).first()
    renewal_opens = (
        acceptance.valid_until - timedelta(days=when.rule.window_days) if acceptance else None
    )
    due = row.due_basis + timedelta(days=when.due_days) if row.due_basis else None
    return PersonStatus(state, row.cycle, acceptance, passed, renewal_opens, due)
