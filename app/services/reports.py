"""HR's tables: everyone's status with their roster details, filtered, counted, exported.

Built on status.status_query (the one definition of the states). Rows come from one SQL
query; pandas shapes them where a table is built (exports, the people list).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Date, Select, and_, cast, false, func, select
from sqlalchemy.orm import Session, aliased

from app.clock import LONDON
from app.models import (
    Acceptance,
    Organisation,
    Person,
    PolicyVersion,
    QuizAttempt,
    QuizSubmission,
    Reminder,
)
from app.services.organisations import today_for
from app.services.policies import current_version
from app.services.status import State, Today, counting_versions, status_params, status_query

# The documented export columns, in order (README: "Exports").
COLUMNS = [
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "elected_member",
    "directorate",
    "department",
    "job_title",
    "manager_name",
    "manager_email",
    "status",
    "assigned_date",
    "due_date",
    "days_overdue",
    "accepted_on",
    "accepted_at_utc",
    "policy_version_accepted",
    "quiz_score",
    "attempts",
    "valid_until",
    "recorded_on_behalf_by",
    "last_reminder",
]
HEADINGS = {
    "employee_id": "Employee ID",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "elected_member": "Elected member",
    "directorate": "Directorate",
    "department": "Department",
    "job_title": "Job title",
    "manager_name": "Manager name",
    "manager_email": "Manager email",
    "status": "Status",
    "assigned_date": "Assigned date",
    "due_date": "Due date",
    "days_overdue": "Days overdue",
    "accepted_on": "Accepted on",
    "accepted_at_utc": "Accepted at (UTC)",
    "policy_version_accepted": "Policy version accepted",
    "quiz_score": "Quiz score (%)",
    "attempts": "Quiz attempts",
    "valid_until": "Valid until",
    "recorded_on_behalf_by": "Recorded on behalf by",
    "last_reminder": "Last reminder (UTC)",
}
COMPLIANT = (State.CERTIFIED.value, State.DUE_FOR_RENEWAL.value)
# The committee report's renewals: days from the report's day, both ends included.
RENEWAL_SPANS = ((0, 30), (31, 60), (61, 90))
OPEN = (State.NOT_STARTED.value, State.IN_PROGRESS.value, State.QUIZ_PASSED.value)


@dataclass(frozen=True)
class Filters:
    """What HR narrows a table to. Empty means everything (active people only by default)."""

    statuses: tuple[str, ...] = ()
    directorate: str | None = None
    department: str | None = None
    manager_id: int | None = None
    overdue_only: bool = False
    accepted_from: date | None = None
    accepted_to: date | None = None
    include_leavers: bool = False
    # None: everyone; True: only councillors (elected members) or only the children's
    # workforce (as HR's roster marks them); False: only the others.
    elected_member: bool | None = None
    childrens_workforce: bool | None = None
    # Anonymised people (past retention) still count in figures, never in lists or exports.
    include_anonymised: bool = False
    person_ids: tuple[int, ...] | None = field(default=None)


@dataclass(frozen=True)
class Scope:
    """Whose figures, on which policy version, reckoned on which day."""

    organisation: Organisation
    version: PolicyVersion
    when: Today


class NoPolicy(Exception):
    """No version of the policy is in force yet: there are no figures to give."""


def scope_for(session: Session, organisation_id: int, policy_key: str, day: date) -> Scope:
    """An organisation's figures on the version in force on `day`, by its own rules."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise LookupError(f"No organisation {organisation_id}")
    version = current_version(session, policy_key, day)
    if version is None:
        raise NoPolicy(policy_key)
    return Scope(organisation, version, today_for(organisation, day))


def _params(session: Session, scope: Scope) -> dict[str, Any]:
    counting = counting_versions(session, scope.version)
    return status_params(scope.organisation.id, scope.version.id, counting, scope.when)


def _people(session: Session, scope: Scope, filters: Filters) -> Select[*tuple[Any, ...]]:
    """Everyone in scope with state, dates and the columns of the export, filtered.

    The status statement's own row of each person is extended (no second pass over the
    people table): at a hundred thousand people that self-join was a third of the time."""
    base = status_query(scope.when.due_from, dialect=session.get_bind().dialect.name)
    status = base.selected_columns
    manager = aliased(Person)
    recorder = aliased(Person)
    version = aliased(PolicyVersion)
    attempts = (
        select(func.count())
        .select_from(QuizSubmission)
        .join(QuizAttempt)
        .where(
            QuizAttempt.person_id == Person.id, QuizAttempt.policy_version_id == scope.version.id
        )
        .correlate(Person)
        .scalar_subquery()
    )
    last_reminder = (
        select(func.max(Reminder.sent_at))
        .where(Reminder.person_id == Person.id, Reminder.outcome == "sent")
        .correlate(Person)
        .scalar_subquery()
    )
    overdue = overdue_of(status, scope.when)
    query: Select[*tuple[Any, ...]] = (
        base.add_columns(
            Person.employee_id,
            Person.first_name,
            Person.last_name,
            Person.name,
            Person.email,
            Person.elected_member,
            Person.committee_member,
            Person.anonymised_at,
            Person.directorate,
            Person.department,
            Person.job_title,
            Person.active,
            Person.manager_id,
            Person.issuer,
            manager.name.label("manager_lti_name"),
            manager.first_name.label("manager_first"),
            manager.last_name.label("manager_last"),
            manager.email.label("manager_email"),
            version.version.label("policy_version_accepted"),
            recorder.name.label("recorded_on_behalf_by"),
            attempts.label("attempts"),
            last_reminder.label("last_reminder"),
            overdue.label("overdue"),
        )
        .outerjoin(manager, manager.id == Person.manager_id)
        .outerjoin(version, version.id == status.accepted_version_id)
        .outerjoin(recorder, recorder.id == status.recorded_by_person_id)
    )
    if not filters.include_anonymised:
        query = query.where(Person.anonymised_at.is_(None))
    if not filters.include_leavers:
        query = query.where(Person.active.is_(True))
    if filters.statuses:
        query = query.where(status.state.in_(filters.statuses))
    for column, unit in (
        (Person.directorate, filters.directorate),
        (Person.department, filters.department),
    ):
        if unit:
            # No stored unit holds a NUL (PostgreSQL refuses one in a query): matches no one.
            query = query.where(column == unit if "\x00" not in unit else false())
    if filters.manager_id is not None:
        query = query.where(Person.manager_id == filters.manager_id)
    if filters.elected_member is not None:
        query = query.where(Person.elected_member.is_(filters.elected_member))
    if filters.childrens_workforce is not None:
        query = query.where(Person.childrens_workforce.is_(filters.childrens_workforce))
    if filters.overdue_only:
        query = query.where(overdue)
    if filters.accepted_from:
        query = query.where(status.accepted_at >= _start_of(filters.accepted_from))
    if filters.accepted_to:
        query = query.where(status.accepted_at < _start_of(filters.accepted_to + timedelta(1)))
    if filters.person_ids is not None:
        query = query.where(Person.id.in_(filters.person_ids))
    return query


def overdue_of(status: Any, when: Today) -> ColumnElement[bool]:
    """Overdue: past the due date with no acceptance that counts, i.e. one of the OPEN
    states. Said through the acceptance so the database need not work out the state twice.
    `status`: status_query's columns."""
    return and_(status.acceptance_id.is_(None), status.due_basis < when.due_cutoff)


def _start_of(day: date) -> datetime:
    """Midnight in London, as an aware time (what a date filter means to HR)."""
    return datetime(day.year, day.month, day.day, tzinfo=LONDON)


def people_frame(
    session: Session,
    scope: Scope,
    filters: Filters = Filters(),
    *,
    limit: int | None = None,
    offset: int = 0,
) -> pd.DataFrame:
    """The export table: one row per person, the documented columns, plus person_id.

    limit/offset give one page of it (the database pages: a page of the people list does
    not shape a hundred thousand rows)."""
    order = (Person.last_name, Person.first_name, Person.name, Person.id)
    query = _people(session, scope, filters).order_by(*order)
    if limit is not None:
        # Choose the page's people first, then fetch their columns: otherwise the database
        # works out every column (quiz attempts, last reminder) for everyone before paging.
        chosen = (
            _people(session, scope, filters)
            .with_only_columns(Person.id)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        query = query.where(Person.id.in_(chosen.scalar_subquery()))
    result = session.execute(query, _params(session, scope))
    # From plain tuples: four times quicker than from mappings at 100,000 rows.
    frame = pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
    if frame.empty:
        return pd.DataFrame(columns=["person_id", *COLUMNS])
    return shape(frame, scope.when)


def count_people(session: Session, scope: Scope, filters: Filters = Filters()) -> int:
    """How many people the filters select (counted by the database)."""
    people = _people(session, scope, filters).subquery()
    total = session.execute(select(func.count()).select_from(people), _params(session, scope))
    return int(total.scalar_one())


def shape(frame: pd.DataFrame, when: Today) -> pd.DataFrame:
    """Raw query rows -> the export's columns, with dates and labels people can read."""
    out = pd.DataFrame({"person_id": frame["person_id"]})
    names = frame["name"].fillna("").str.split(" ", n=1)
    out["employee_id"] = frame["employee_id"]
    out["first_name"] = frame["first_name"].fillna(names.str[0])
    out["last_name"] = frame["last_name"].fillna(names.str[1])
    out["email"] = frame["email"]
    out["elected_member"] = frame["elected_member"].map({True: "Yes", False: "No"})
    out["directorate"] = frame["directorate"]
    out["department"] = frame["department"]
    out["job_title"] = frame["job_title"]
    manager_roster = frame["manager_first"].fillna("") + " " + frame["manager_last"].fillna("")
    out["manager_name"] = frame["manager_lti_name"].where(
        frame["manager_lti_name"].fillna("") != "", manager_roster.str.strip()
    )
    out["manager_email"] = frame["manager_email"]
    out["status"] = frame["state"].map({s.value: s.label for s in State})
    out["state"] = frame["state"]
    basis = pd.to_datetime(frame["due_basis"], errors="coerce")
    due = basis + pd.Timedelta(days=when.due_days)
    out["assigned_date"] = basis.dt.date
    out["due_date"] = due.dt.date
    today = pd.Timestamp(when.today)
    overdue_days = (today - due).dt.days
    out["days_overdue"] = overdue_days.where(frame["overdue"].astype(bool) & (overdue_days > 0))
    accepted = pd.to_datetime(frame["accepted_at"], utc=True, errors="coerce")
    # The day, in London; the time only where one was recorded (not for an acceptance HR
    # recorded from a dated paper declaration: its accepted_on says so).
    day_only = pd.to_datetime(frame["accepted_on"], errors="coerce").astype("datetime64[ns]")
    in_london = accepted.dt.tz_convert("Europe/London").dt.tz_localize(None).dt.normalize()
    out["accepted_on"] = day_only.fillna(in_london.astype("datetime64[ns]")).dt.date
    out["accepted_at_utc"] = accepted.dt.strftime("%Y-%m-%d %H:%M:%S").where(day_only.isna())
    out["policy_version_accepted"] = frame["policy_version_accepted"]
    out["quiz_score"] = frame["quiz_score"]
    out["attempts"] = frame["attempts"]
    out["valid_until"] = pd.to_datetime(frame["valid_until"], errors="coerce").dt.date
    out["recorded_on_behalf_by"] = frame["recorded_on_behalf_by"]
    reminded = pd.to_datetime(frame["last_reminder"], utc=True, errors="coerce")
    out["last_reminder"] = reminded.dt.strftime("%Y-%m-%d %H:%M:%S")
    out["overdue"] = frame["overdue"].astype(bool)
    return out


@dataclass(frozen=True)
class Dashboard:
    total: int
    by_state: dict[str, int]
    completion_rate: float
    overdue: int
    by_unit: list[dict[str, Any]]  # directorate, department, total, compliant, per state
    weekly: list[tuple[date, int]]


@dataclass(frozen=True)
class Statement:
    """One of the dashboard's queries with the values it runs with: what the page runs, and
    what the HR benchmark runs straight in PostgreSQL as its yardstick."""

    statement: Select[Any]
    params: dict[str, Any]


def dashboard_statements(
    session: Session, scope: Scope, filters: Filters = Filters(), weeks: int = 12
) -> dict[str, Statement]:
    """The dashboard's aggregate queries: people by unit and state (with the overdue among
    them), and acceptances per day over the latest `weeks` weeks."""
    people = _people(session, scope, replace(filters, include_anonymised=True)).subquery()
    by_unit = select(
        people.c.directorate,
        people.c.department,
        people.c.state,
        func.count().label("n"),
        func.count().filter(people.c.overdue).label("overdue"),
    ).group_by(people.c.directorate, people.c.department, people.c.state)
    day: Any
    if session.get_bind().dialect.name == "sqlite":
        day = func.date(Acceptance.accepted_at)
    else:
        day = cast(func.timezone("Europe/London", Acceptance.accepted_at), Date())
    per_day = (
        select(day.label("day"), func.count())
        .where(
            Acceptance.organisation_id == scope.organisation.id,
            Acceptance.accepted_at >= _start_of(_first_monday(scope.when.today, weeks)),
        )
        .group_by(day)
    )
    return {
        "by_unit_and_state": Statement(by_unit, _params(session, scope)),
        "completions_per_day": Statement(per_day, {}),
    }


def _counted(session: Session, scope: Scope, as_of: bool) -> tuple[Any, dict[str, Any]]:
    """Whom the committee report counts on scope.when.today, with their state: anonymised
    people count, leavers do not. as_of=False: the dashboard's own statement (the records
    as they stand), for today; as_of=True: status_query's as_of form, for an earlier day."""
    if not as_of:
        people = _people(session, scope, Filters(include_anonymised=True)).subquery()
        return people, _params(session, scope)
    base = status_query(scope.when.due_from, dialect=session.get_bind().dialect.name, as_of=True)
    people = base.add_columns(
        Person.first_name,
        Person.last_name,
        Person.name,
        Person.directorate,
        Person.elected_member,
        Person.committee_member,
        Person.anonymised_at,
        overdue_of(base.selected_columns, scope.when).label("overdue"),
    ).subquery()
    params = status_params(
        scope.organisation.id,
        scope.version.id,
        counting_versions(session, scope.version),
        scope.when,
        as_of=True,
    )
    return people, params


def counts_statement(
    session: Session, scope: Scope, *, as_of: bool, renewals_from: date | None = None
) -> Statement:
    """Everyone counted (see _counted) by directorate, councillor or not, on the committee
    or not, and state, with the overdue among them and, from renewals_from, whose
    acceptance ends in each of RENEWAL_SPANS: the committee report's figures."""
    people, params = _counted(session, scope, as_of)
    renewals: list[Any] = []
    if renewals_from is not None:
        for n, (first, last) in enumerate(RENEWAL_SPANS):
            span = (renewals_from + timedelta(first), renewals_from + timedelta(last))
            renewals.append(
                func.count()
                # In date on the day (a valid_until from it on): compliant, by the rules;
                # said without the state, which the database would work out again.
                .filter(people.c.valid_until.between(*span))
                .label(f"renewals_{n}")
            )
    keys = (people.c.directorate, people.c.elected_member, people.c.committee_member)
    statement = select(
        *keys,
        people.c.state,
        func.count().label("n"),
        func.count().filter(people.c.overdue).label("overdue"),
        *renewals,
    ).group_by(*keys, people.c.state)
    return Statement(statement, params)


def not_completed_councillors(session: Session, scope: Scope, *, as_of: bool) -> list[str]:
    """The names of the councillors counted (see _counted) who are not completed and in
    date, by last name (anonymised people have no name to give)."""
    people, params = _counted(session, scope, as_of)
    rows = session.execute(
        select(people.c.first_name, people.c.last_name, people.c.name)
        .where(
            people.c.elected_member.is_(True),
            people.c.anonymised_at.is_(None),
            people.c.state.not_in(COMPLIANT),
        )
        .order_by(people.c.last_name, people.c.first_name, people.c.name, people.c.person_id),
        params,
    )
    return [f"{first or ''} {last or ''}".strip() or name for first, last, name in rows]


def dashboard(
    session: Session, scope: Scope, filters: Filters = Filters(), weeks: int = 12
) -> Dashboard:
    """Headline figures, by directorate and department, and completions per week: counted
    by the database (dashboard_statements); here only a few hundred rows are folded."""
    statements = dashboard_statements(session, scope, filters, weeks)
    run = statements["by_unit_and_state"]
    rows = session.execute(run.statement, run.params).all()
    by_state = {s.value: 0 for s in State}
    units: dict[tuple[str, str], dict[str, Any]] = {}
    overdue = 0
    for directorate, department, state, n, late in rows:
        by_state[state] += n
        overdue += late
        key = (directorate or "Not recorded", department or "Not recorded")
        unit = units.setdefault(
            key,
            {
                "directorate": key[0],
                "department": key[1],
                "total": 0,
                "compliant": 0,
                "overdue": 0,
                **{s.value: 0 for s in State},
            },
        )
        unit[state] += n
        unit["total"] += n
        unit["overdue"] += late
        if state in COMPLIANT:
            unit["compliant"] += n
    total = sum(by_state.values())
    compliant = sum(by_state[s] for s in COMPLIANT)
    run = statements["completions_per_day"]
    per_day = session.execute(run.statement, run.params).all()
    return Dashboard(
        total=total,
        by_state=by_state,
        completion_rate=(compliant / total) if total else 0.0,
        overdue=overdue,
        by_unit=sorted(units.values(), key=lambda u: (u["directorate"], u["department"])),
        weekly=_per_week(per_day, scope.when.today, weeks),
    )


def _first_monday(today: date, weeks: int) -> date:
    return today - timedelta(days=today.weekday() + 7 * (weeks - 1))


def _per_week(per_day: Any, today: date, weeks: int) -> list[tuple[date, int]]:
    """Counts per day (a date, or its ISO text on SQLite) -> per week, weeks start on Monday."""
    first_monday = _first_monday(today, weeks)
    per_week: dict[date, int] = {first_monday + timedelta(weeks=i): 0 for i in range(weeks)}
    for value, n in per_day:
        when = value if isinstance(value, date) else date.fromisoformat(str(value))
        monday = when - timedelta(days=when.weekday())
        if monday in per_week:
            per_week[monday] += n
    return sorted(per_week.items())


def units(session: Session, organisation_id: int) -> tuple[list[str], list[str]]:
    """The directorates and departments HR can filter by."""
    directorates = session.scalars(
        select(Person.directorate)
        .where(Person.organisation_id == organisation_id, Person.directorate.isnot(None))
        .distinct()
        .order_by(Person.directorate)
    )
    departments = session.scalars(
        select(Person.department)
        .where(Person.organisation_id == organisation_id, Person.department.isnot(None))
        .distinct()
        .order_by(Person.department)
    )
    return [d for d in directorates if d], [d for d in departments if d]
