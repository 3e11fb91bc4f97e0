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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import FrameClause, FrameClauseType

from app.clock import LONDON
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
    as_of: bool = False,
) -> dict[str, Any]:
    """The values status_query's statement runs with (as_of: the end of when.today, for
    its as_of form)."""
    params: dict[str, Any] = {
        "sq_org": organisation_id,
        "sq_version": current_id,
        "sq_counting": counting,
        "sq_renewal_cutoff": when.renewal_cutoff,
        "sq_today": when.today,
    }
    if person_id is not None:
        params["sq_person"] = person_id
    if as_of:
        params["sq_before"] = end_of_day(when.today)
    return params


def end_of_day(day: date) -> datetime:
    """The first moment after `day` in London, as an aware time."""
    following = day + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=LONDON)


@cache
def status_query(
    due_from: str = "assignment",
    one_person: bool = False,
    dialect: str = "sqlite",
    as_of: bool = False,
) -> Select[Any]:
    """One row per person of an organisation with their state: the single definition of
    the states, for one learner's page and for HR's figures over everyone alike.

    Built once per shape (it is a large statement) and run with status_params(); one_person
    limits it to params["sq_person"] so a learner's page does not rank the whole council.

    as_of: the states at the end of an earlier day (sq_today), from the records as they
    stand: only what was done by then counts (an acceptance from its day, a paper
    declaration from the day it was signed), and only the people on the books that day
    (assigned by then, and not yet left: a leaver whose leaving day is unknown is left out).
    Run with status_params(..., as_of=True).
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
    before = bindparam("sq_before", type_=Acceptance.accepted_at.type)
    on_day = bindparam("sq_today", type_=Date)
    scope = (
        Acceptance.organisation_id == bindparam("sq_org", type_=Integer),
        Acceptance.policy_version_id.in_(bindparam("sq_counting", expanding=True)),
        *((Acceptance.person_id == bindparam("sq_person"),) if one_person else ()),
        *(
            (done_by(Acceptance.accepted_on, Acceptance.accepted_at, on_day, before),)
            if as_of
            else ()
        ),
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
            *((QuizSubmission.submitted_at < before,) if as_of else ()),
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
            *((SectionRead.first_read_at < before,) if as_of else ()),
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
    basis = due_basis(due_from)
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
    if as_of:
        query = query.where(on_the_books(on_day, before))
    return query


def due_basis(due_from: str) -> Any:
    """The date a person's due date counts from."""
    if due_from == "start_date":
        return case((Person.start_date.isnot(None), Person.start_date), else_=Person.assigned_on)
    return Person.assigned_on


def done_by(on: Any, at: Any, day: Any, before: Any) -> ColumnElement[bool]:
    """An acceptance (accepted_on, accepted_at) made by the end of `day`: a paper
    declaration on the day it was signed, any other at its moment (`before`: the end of the
    day). Never NULL, so that it can be negated."""
    return or_(and_(on.isnot(None), on <= day), and_(on.is_(None), at.isnot(None), at < before))


def any_done_by(earliest_on: Any, earliest_at: Any, day: Any, before: Any) -> ColumnElement[bool]:
    """Of some acceptances, given the earliest day among the paper ones and the earliest
    moment among the others: was any made by the end of `day`? Never NULL."""
    return or_(
        and_(earliest_on.isnot(None), earliest_on <= day),
        and_(earliest_at.isnot(None), earliest_at < before),
    )


def on_the_books(day: Any, before: Any) -> ColumnElement[bool]:
    """Whom the figures of an earlier day count: assigned by then (or, with no assignment
    date, first seen by then) and not yet left."""
    return and_(joined_by(day, before), not_yet_left(day))


def joined_by(day: Any, before: Any) -> ColumnElement[bool]:
    return or_(
        Person.assigned_on <= day,
        and_(Person.assigned_on.is_(None), Person.first_seen_at < before),
    )


def not_yet_left(day: Any) -> ColumnElement[bool]:
    """Still here at the end of `day`; a leaver whose leaving day is unknown is left out.
    Never NULL, so that it can be negated."""
    return or_(Person.active.is_(True), and_(Person.left_on.isnot(None), Person.left_on > day))


def completion_over_days(
    organisation_id: int,
    days: Sequence[tuple[Today, Sequence[int]]],
    group_by: Sequence[Any],
) -> DaysCounted:
    """status_query's as_of form for many days at once, counted by `group_by` (columns of
    Person): what a year's trend needs, in one pass over the people and their acceptances
    instead of one pass per day. `days`: each day, in order, with the versions whose
    acceptances count on it (counting_versions of the version then in force).

    The same rules, said per acceptance: the acceptance that counts on a day is the latest
    recorded of the counting ones made by then (status_query's `latest`), so an acceptance
    counts on day d when it was made by d and no counting acceptance recorded after it was;
    it is in date on d when valid_until >= d (certified or due for renewal), else expired;
    someone on the books with none made by d is overdue when their due date had passed. A
    test compares both forms day by day (tests/services/test_committee_figures.py).

    Each rule's outcome only ever changes once as the days go on (made by then, on the
    books from, left from, overdue from, out of date from), so each row gets the number of
    the first day each holds on, and each day's figures are comparisons of small numbers
    (DaysCounted.counts)."""
    whens = [when for when, _ in days]
    if whens != sorted(whens, key=lambda w: w.today):
        raise ValueError("The days must be in order")
    sets = sorted({tuple(sorted(counting)) for _, counting in days})
    never = len(days)  # the number of a day after the last: "not on any of them"

    def first_day(holds: Any) -> Any:
        """The number of the first day `holds(day, end of day, when)` is true on."""
        return case(
            *((holds(w.today, end_of_day(w.today), w), k) for k, w in enumerate(whens)),
            else_=never,
        )

    # After each acceptance, the earliest made of those recorded after it (the rows that
    # follow it, oldest first: the reverse of status_query's newest_first), per set of
    # counting versions.
    later: dict[str, Any] = {
        "partition_by": Acceptance.person_id,
        "order_by": (Acceptance.accepted_at, Acceptance.id),
        # The offset written into the SQL, not bound: PostgreSQL computes windows of the
        # same text in one pass, and bound offsets make each window's text its own.
        "rows": FrameClause(
            bindparam(None, 1, type_=Integer, literal_execute=True),
            None,
            FrameClauseType.FOLLOWING,
            FrameClauseType.UNBOUNDED,
        ),
    }
    windows = []
    for n, versions in enumerate(sets):
        counts = Acceptance.policy_version_id.in_(versions)
        dated = case((counts, Acceptance.accepted_on))
        undated = case((and_(counts, Acceptance.accepted_on.is_(None)), Acceptance.accepted_at))
        windows += [
            func.min(dated).over(**later).label(f"later_on_{n}"),
            func.min(undated).over(**later).label(f"later_at_{n}"),
        ]
    made = (
        select(
            Acceptance.person_id,
            Acceptance.policy_version_id,
            Acceptance.accepted_on,
            Acceptance.accepted_at,
            Acceptance.valid_until,
            # None on the person's first row (lag ignores the frame: the same window).
            func.lag(Acceptance.id).over(**later).label("previous"),
            *windows,
        )
        .where(
            Acceptance.organisation_id == organisation_id,
            Acceptance.policy_version_id.in_({v for versions in sets for v in versions}),
        )
        .subquery("made")
    )
    basis = due_basis(days[0][0].due_from)
    numbers = [
        # The person's own row: their only one (no acceptances), or the first of theirs,
        # where their own figures (on the books, overdue) are counted, once.
        made.c.previous.is_(None).label("once"),
        first_day(lambda d, before, _: joined_by(d, before)).label("joined"),
        first_day(lambda d, _, __: ~not_yet_left(d)).label("gone"),
        first_day(lambda _, __, w: basis < w.due_cutoff).label("overdue_from"),
        first_day(
            lambda d, before, _: done_by(made.c.accepted_on, made.c.accepted_at, d, before)
        ).label("made"),
        first_day(lambda d, _, __: made.c.valid_until < d).label("out_of_date"),
        *(
            first_day(
                lambda d, before, _, n=n: any_done_by(
                    made.c[f"later_on_{n}"], made.c[f"later_at_{n}"], d, before
                )
            ).label(f"superseded_{n}")
            for n in range(len(sets))
        ),
        *(
            made.c.policy_version_id.in_(versions).label(f"in_{n}")
            for n, versions in enumerate(sets)
        ),
    ]
    # Rows alike in every number count alike: the database counts them (a few thousand
    # groups for a hundred thousand people), and days_counted() reads each day's figures
    # off the numbers.
    keys = [*group_by, *numbers]
    statement = (
        select(*keys, func.count().label("n"))
        .select_from(Person)
        .outerjoin(made, made.c.person_id == Person.id)
        .where(Person.organisation_id == organisation_id)
        .group_by(*keys)
    )
    return DaysCounted(statement, [sets.index(tuple(sorted(c))) for _, c in days])


@dataclass(frozen=True)
class DaysCounted:
    """completion_over_days' statement, and how to read its rows."""

    statement: Select[Any]
    sets: list[int]  # for each day, which set of counting versions it has

    def counts(self, row: Any) -> list[tuple[int, int, int, int]]:
        """For each day: (people, completed and in date, overdue, expired) of a row."""
        m = row._mapping
        n, once, made, out_of_date = m["n"], bool(m["once"]), m["made"], m["out_of_date"]
        joined, gone, overdue_from = m["joined"], m["gone"], m["overdue_from"]
        counting = {s: bool(m[f"in_{s}"]) for s in set(self.sets)}
        superseded = {s: m[f"superseded_{s}"] for s in set(self.sets)}
        out = []
        for k, s in enumerate(self.sets):
            if not joined <= k < gone:  # not on the books that day
                out.append((0, 0, 0, 0))
                continue
            own = counting[s] and made <= k
            after = superseded[s] <= k
            counts = own and not after
            out.append(
                (
                    n if once else 0,
                    n if counts and out_of_date > k else 0,
                    # On the first row, its own acceptance and those after are all of theirs.
                    n if once and overdue_from <= k and not own and not after else 0,
                    n if counts and out_of_date <= k else 0,
                )
            )
        return out


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
