"""status.py at its exact boundary days: the last valid day, the day the renewal window
opens, renewing on the expiry day, the due date and the overdue flag, due from start date.

Service-level, with fixed dates; one HTTP test reads the learner's dates off the page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import long_date, today
from app.db import db
from app.models import Acceptance, Organisation, Person, PolicyVersion, SectionRead
from app.services.status import (
    PersonStatus,
    State,
    Today,
    Validity,
    add_months,
    counting_versions,
    next_valid_until,
    person_status,
    status_params,
    status_query,
)
from tests.services import records
from tests.services.records import Setup

UNTIL = date(2026, 6, 30)  # the last day an acceptance is valid
RULE = Validity(months=12, window_days=30, basis="expiry")


def accepted(session: Session, s: Setup, who: Person, until: date, **kw: Any) -> Acceptance:
    return records.acceptance(session, s, who, until, **{"code": "ABCDEFGHJK", **kw})


def on(day: date, rule: Validity = RULE, due_days: int = 28, due_from: str = "assignment") -> Today:
    return Today(day, rule, due_days, due_from)


def status_on(session: Session, s: Setup, who: Person, when: Today) -> Any:
    return person_status(session, s.org.id, who.id, s.version, when)


# --- validity and the renewal window -----------------------------------------------------


@pytest.mark.parametrize(
    ("day", "state"),
    [
        (UNTIL - timedelta(days=31), State.CERTIFIED),  # the day before the window opens
        (UNTIL - timedelta(days=30), State.DUE_FOR_RENEWAL),  # the window opens
        (UNTIL, State.DUE_FOR_RENEWAL),  # the last valid day: still in date
        (UNTIL + timedelta(days=1), State.EXPIRED),  # the day after
    ],
    ids=["window-1", "window-opens", "last-valid-day", "day-after"],
)
def test_state_at_the_boundary_days(session: Session, s: Setup, day: date, state: State) -> None:
    who = records.person(session, s.org)
    acceptance = accepted(session, s, who, UNTIL)
    status = status_on(session, s, who, on(day))
    assert status.state is state
    assert status.acceptance is not None and status.acceptance.id == acceptance.id
    assert status.valid_until == UNTIL
    assert status.renewal_opens == date(2026, 5, 31)
    assert status.journey_open is (state is not State.CERTIFIED)
    # Cycle: the next journey on this version is the second.
    assert status.cycle == 2


@pytest.mark.parametrize(("window", "opens"), [(0, UNTIL), (1, date(2026, 6, 29))])
def test_a_short_window_opens_on_its_day(
    session: Session, s: Setup, window: int, opens: date
) -> None:
    who = records.person(session, s.org)
    accepted(session, s, who, UNTIL)
    rule = Validity(12, window, "expiry")
    assert status_on(session, s, who, on(opens - timedelta(days=1), rule)).state is State.CERTIFIED
    status = status_on(session, s, who, on(opens, rule))
    assert status.state is State.DUE_FOR_RENEWAL
    assert status.renewal_opens == opens


def test_the_latest_acceptance_is_the_one_that_counts(session: Session, s: Setup) -> None:
    who = records.person(session, s.org)
    accepted(session, s, who, date(2025, 6, 30), at=datetime(2024, 6, 30, tzinfo=UTC))
    later = accepted(
        session, s, who, UNTIL, cycle=2, code="BBBBBBBBBB", at=datetime(2025, 6, 29, tzinfo=UTC)
    )
    status = status_on(session, s, who, on(date(2026, 1, 1)))
    assert status.state is State.CERTIFIED
    assert status.acceptance is not None and status.acceptance.id == later.id
    assert status.cycle == 3


# --- before any acceptance: the journey's states --------------------------------------------


def test_not_started_then_reading_then_quiz_passed(session: Session, s: Setup) -> None:
    who = records.person(session, s.org)
    day = on(date(2026, 1, 15))
    assert status_on(session, s, who, day).state is State.NOT_STARTED
    session.add(SectionRead(person_id=who.id, version_id=s.version.id, section_key="intro"))
    status = status_on(session, s, who, day)
    assert (status.state, status.passed, status.cycle) == (State.IN_PROGRESS, None, 1)
    records.submission(session, s, who, records.NOON, passed=False)
    assert status_on(session, s, who, day).state is State.IN_PROGRESS
    won = records.submission(session, s, who, records.NOON + timedelta(hours=1))
    status = status_on(session, s, who, day)
    assert status.state is State.QUIZ_PASSED
    assert status.passed is not None and status.passed.id == won.id
    assert status.acceptance is None and status.renewal_opens is None


def test_a_pass_from_an_earlier_journey_does_not_count(session: Session, s: Setup) -> None:
    who = records.person(session, s.org)
    records.submission(session, s, who, records.NOON, cycle=1)
    accepted(session, s, who, date(2025, 12, 31))
    status = status_on(session, s, who, on(date(2026, 1, 15)))
    assert status.state is State.EXPIRED
    assert status.passed is None  # the pass belonged to journey 1; this is journey 2
    won = records.submission(session, s, who, records.NOON, cycle=2)
    status = status_on(session, s, who, on(date(2026, 1, 15)))
    assert status.state is State.EXPIRED  # a pass does not make an expired person current
    assert status.passed is not None and status.passed.id == won.id


# --- renewing: the anniversary ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted_on", "basis", "until"),
    [
        (UNTIL, "expiry", date(2027, 6, 30)),  # on the expiry day: the anniversary stays
        (UNTIL - timedelta(days=10), "expiry", date(2027, 6, 30)),
        (UNTIL + timedelta(days=1), "expiry", date(2027, 7, 1)),  # expired: counts anew
        (UNTIL, "completion", date(2027, 6, 30)),
        (UNTIL - timedelta(days=10), "completion", date(2027, 6, 20)),
    ],
)
def test_renewal_keeps_or_restarts_the_anniversary(
    accepted_on: date, basis: str, until: date
) -> None:
    assert next_valid_until(accepted_on, UNTIL, Validity(12, 30, basis)) == until


def test_a_first_acceptance_counts_from_its_day() -> None:
    assert next_valid_until(date(2026, 3, 5), None, RULE) == date(2027, 3, 5)
    assert next_valid_until(date(2026, 3, 5), None, Validity(6, 30, "expiry")) == date(2026, 9, 5)


@pytest.mark.parametrize(
    ("day", "months", "result"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 11, 30), 2, date(2027, 1, 30)),
        (date(2026, 11, 30), 1, date(2026, 12, 30)),
        (date(2026, 1, 15), 23, date(2027, 12, 15)),
        (date(2026, 3, 31), 12, date(2027, 3, 31)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 1, 1), 0, date(2026, 1, 1)),
    ],
)
def test_calendar_months(day: date, months: int, result: date) -> None:
    assert add_months(day, months) == result


# --- due dates and overdue ------------------------------------------------------------------

ASSIGNED = date(2026, 1, 10)
STARTED = date(2026, 1, 3)


@pytest.mark.parametrize(
    ("due_from", "start", "due"),
    [
        ("assignment", STARTED, ASSIGNED + timedelta(days=28)),
        ("start_date", STARTED, STARTED + timedelta(days=28)),
        ("start_date", None, ASSIGNED + timedelta(days=28)),  # no start date: assignment
    ],
)
def test_the_due_date_and_the_overdue_flag_at_its_boundary(
    session: Session, s: Setup, due_from: str, start: date | None, due: date
) -> None:
    who = records.person(session, s.org, assigned_on=ASSIGNED, start_date=start)
    status = status_on(session, s, who, on(date(2026, 1, 15), due_from=due_from))
    assert status.due_date == due
    assert not status.overdue(due)  # the due date itself is not overdue
    assert status.overdue(due + timedelta(days=1))


def test_not_assigned_has_no_due_date_and_is_never_overdue(session: Session, s: Setup) -> None:
    who = records.person(session, s.org)
    status = status_on(session, s, who, on(date(2026, 1, 15)))
    assert status.due_date is None
    assert not status.overdue(date(2099, 1, 1))


def test_someone_who_accepted_is_not_overdue(session: Session, s: Setup) -> None:
    who = records.person(session, s.org, assigned_on=ASSIGNED)
    accepted(session, s, who, date(2026, 12, 31))
    status = status_on(session, s, who, on(date(2026, 3, 1)))
    assert status.due_date == ASSIGNED + timedelta(days=28)
    assert not status.overdue(date(2026, 3, 1))


# --- versions ---------------------------------------------------------------------------


def version(session: Session, s: Setup, name: str, reaccept: bool, day: int) -> PolicyVersion:
    row = PolicyVersion(
        policy_id=s.version.policy_id,
        version=name,
        title="Corporate Parenting Policy",
        summary="",
        effective_date=date(2026, 2, day),
        requires_reacceptance=reaccept,
        intro_markdown="",
        intro_html="",
        content_hash="e" * 64,
        published_at=datetime(2026, 2, day, tzinfo=UTC),
    )
    session.add(row)
    session.flush()
    return row


def test_a_minor_version_keeps_acceptances_a_major_one_does_not(session: Session, s: Setup) -> None:
    who = records.person(session, s.org)
    accepted(session, s, who, UNTIL)
    minor = version(session, s, "1.1", False, 1)
    assert counting_versions(session, minor) == [minor.id, s.version.id]
    status = person_status(session, s.org.id, who.id, minor, on(date(2026, 3, 1)))
    assert status.state is State.CERTIFIED
    assert status.cycle == 1  # no acceptance of 1.1 yet: its first journey
    major = version(session, s, "2.0", True, 2)
    assert counting_versions(session, major) == [major.id]
    status = person_status(session, s.org.id, who.id, major, on(date(2026, 3, 1)))
    assert status.state is State.NOT_STARTED and status.acceptance is None


# --- on the learner's page --------------------------------------------------------------


def summary(client: Any, key: str) -> str:
    """The text of the learner overview's summary row for key, spaces collapsed."""
    html = " ".join(client.get("/").get_data(as_text=True).split())
    found = re.search(
        rf'<dt class="govuk-summary-list__key"> {key} </dt> '
        r'<dd class="govuk-summary-list__value"> (.*?) </dd>',
        html,
    )
    assert found, f"no {key} row"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_learner_page_shows_the_exact_dates(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    day = today()
    with app.app_context():
        who = db.session.scalars(select(Person).where(Person.subject == "u-aisha")).one()
        who.assigned_on = day - timedelta(days=28)  # due today: not yet overdue
        db.session.commit()
        person_id = who.id
    assert summary(client, "Complete by") == long_date(day)
    with app.app_context():
        db.session.get_one(Person, person_id).assigned_on = day - timedelta(days=29)
        db.session.commit()
    assert summary(client, "Complete by") == f"{long_date(day - timedelta(days=1))}  Overdue"
    with app.app_context():
        current = db.session.scalars(
            select(PolicyVersion).order_by(PolicyVersion.id.desc())
        ).first()
        assert current is not None
        who = db.session.get_one(Person, person_id)
        org = db.session.get_one(Organisation, who.organisation_id)
        accepted(db.session(), Setup(org, current, None), who, day + timedelta(days=100))  # type: ignore[arg-type]
        db.session.commit()
    assert summary(client, "Renewal opens") == long_date(day + timedelta(days=70))


# --- the parts HR's figures share -------------------------------------------------------------


def test_the_labels_people_see() -> None:
    assert [s.label for s in State] == [
        "Not started",
        "In progress",
        "Quiz passed: awaiting acceptance",
        "Completed",
        "Due for renewal",
        "Expired",
    ]


def test_the_default_rule_and_the_cut_offs() -> None:
    assert Validity() == Validity(months=12, window_days=30, basis="expiry")
    when = Today(date(2026, 3, 1), Validity(12, 30), 28)
    assert when.due_from == "assignment"
    assert when.renewal_cutoff == date(2026, 3, 31)
    assert when.due_cutoff == date(2026, 2, 1)  # assigned before this and never accepted


@pytest.mark.parametrize(
    "value",
    [
        Validity(),
        Today(date(2026, 3, 1), RULE, 28),
        PersonStatus(State.NOT_STARTED, 1, None, None, None),
    ],
    ids=["Validity", "Today", "PersonStatus"],
)
def test_the_rule_values_cannot_be_changed_in_place(value: object) -> None:
    """They key cached statements and are shared between requests."""
    with pytest.raises(AttributeError):
        value.today = date(2000, 1, 1)  # type: ignore[attr-defined]


def test_status_params_without_and_with_a_person() -> None:
    when = on(date(2026, 3, 1))
    params = status_params(4, 9, [9, 8], when)
    assert params == {
        "sq_org": 4,
        "sq_version": 9,
        "sq_counting": [9, 8],
        "sq_renewal_cutoff": date(2026, 3, 31),
        "sq_today": date(2026, 3, 1),
    }
    assert status_params(4, 9, [9], when, person_id=3)["sq_person"] == 3


def test_counting_versions_known_in_advance_are_used() -> None:
    class Cached:
        counting = (5, 4)

    assert counting_versions(None, Cached()) == [5, 4]  # type: ignore[arg-type]


def test_the_whole_organisation_in_one_statement(session: Session, s: Setup) -> None:
    """HR's figures run the same statement over everyone; one person's page over one."""
    certified = records.person(session, s.org, "Aisha Khan")
    reading = records.person(session, s.org, "Tom Jones", assigned_on=ASSIGNED)
    accepted(session, s, certified, UNTIL)
    session.add(SectionRead(person_id=reading.id, version_id=s.version.id, section_key="intro"))
    session.flush()
    other = records.person(session, records.setup_org(session, "Elsewhere"), "Sam Lee")
    when = on(date(2026, 1, 15))
    params = status_params(s.org.id, s.version.id, [s.version.id], when)
    dialect = session.get_bind().dialect.name
    rows = session.connection().execute(status_query(dialect=dialect), params).all()
    assert {r.person_id: (r.state, r.cycle) for r in rows} == {
        certified.id: ("certified", 2),
        reading.id: ("in_progress", 1),
    }
    assert other.id not in {r.person_id for r in rows}
    assert status_on(session, s, reading, when).state is State.IN_PROGRESS
    assert status_on(session, s, certified, when).state is State.CERTIFIED


def test_what_was_just_added_counts_with_a_cached_version(session: Session, s: Setup) -> None:
    """The learner's pages pass the cached version (its counting versions known), so no
    query flushes the session before the status statement: person_status must."""

    class Cached:
        id = s.version.id
        counting = (s.version.id,)

    who = records.person(session, s.org)
    session.add(SectionRead(person_id=who.id, version_id=s.version.id, section_key="intro"))
    status = person_status(session, s.org.id, who.id, Cached(), on(date(2026, 1, 15)))
    assert status.state is State.IN_PROGRESS
