"""The dashboard's figures, counted by the database, against each person's status worked out
one at a time: one definition of the states, whichever way they are counted. Over a
seeded random council (tests/services/history.py), on its boundary days and the days
either side."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import LONDON
from app.models import Acceptance, Organisation, Person, PolicyVersion
from app.services.organisations import today_for
from app.services.reports import COMPLIANT, Filters, Scope, dashboard, people_frame
from app.services.status import PersonStatus, State, person_status
from tests.services import history
from tests.services.history import WINDOW
from tests.services.records import Setup

DAY = date(2026, 11, 18)  # a Wednesday
SEED = 20261206
PEOPLE = 150
DUE_DAYS = 28


def council(session: Session, **settings: Any) -> tuple[Setup, PolicyVersion]:
    """The seeded council; returns its set-up and the version in force (a correction)."""
    return history.council(session, DAY, SEED, PEOPLE, **settings)


def one_by_one(session: Session, scope: Scope) -> dict[Person, PersonStatus]:
    """Everyone's status, by person_status, one person at a time."""
    people = session.scalars(
        select(Person).where(Person.organisation_id == scope.organisation.id).order_by(Person.id)
    )
    return {
        who: person_status(session, scope.organisation.id, who.id, scope.version, scope.when)
        for who in people
    }


def counted(everyone: dict[Person, PersonStatus], filters: Filters) -> dict[Person, PersonStatus]:
    """Whom the figures count under the filters (anonymised people too: they still count)."""
    return {
        who: status
        for who, status in everyone.items()
        if (who.active or filters.include_leavers)
        and (filters.directorate is None or who.directorate == filters.directorate)
        and (filters.department is None or who.department == filters.department)
    }


def figures_from(statuses: dict[Person, PersonStatus], today: date) -> dict[str, Any]:
    by_state = Counter({s.value: 0 for s in State})
    units: dict[tuple[str, str], Counter[str]] = {}
    for who, status in statuses.items():
        by_state[status.state.value] += 1
        key = (who.directorate or "Not recorded", who.department or "Not recorded")
        unit = units.setdefault(key, Counter())
        unit[status.state.value] += 1
        unit["total"] += 1
        unit["compliant"] += status.state.value in COMPLIANT
        unit["overdue"] += status.overdue(today)
    return {
        "by_state": dict(by_state),
        "overdue": sum(status.overdue(today) for status in statuses.values()),
        "by_unit": {key: {name: n for name, n in unit.items() if n} for key, unit in units.items()},
    }


def weekly_from(session: Session, organisation: Organisation, today: date) -> dict[date, int]:
    """Acceptances per week beginning Monday, counted on their day in London."""
    weeks: Counter[date] = Counter()
    for at in session.scalars(
        select(Acceptance.accepted_at).where(Acceptance.organisation_id == organisation.id)
    ):
        day = at.astimezone(LONDON).date()
        weeks[day - timedelta(days=day.weekday())] += 1
    first = today - timedelta(days=today.weekday() + 7 * 11)
    return {first + timedelta(weeks=i): weeks[first + timedelta(weeks=i)] for i in range(12)}


FILTERS = [
    Filters(),
    Filters(include_leavers=True),
    Filters(directorate="Place"),
    Filters(directorate="Resources", include_leavers=True),
]


@pytest.mark.parametrize("due_from", ["assignment", "start_date"])
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["day-before", "day", "day-after"])
def test_dashboard_figures_equal_each_persons_status_over_a_random_history(
    session: Session, due_from: str, offset: int
) -> None:
    s, current = council(session, due_from=due_from, due_days=DUE_DAYS)
    today = DAY + timedelta(days=offset)
    scope = Scope(s.org, current, today_for(s.org, today))
    assert scope.when.rule.window_days == WINDOW

    everyone = one_by_one(session, scope)
    # The history reaches every state and every boundary day of the day checked, so the
    # comparison below covers them all.
    assert {st.state for st in everyone.values()} == set(State)
    valid = {st.valid_until for st in everyone.values()}
    assert {today, today - timedelta(days=1)} <= valid  # expiry day, the day after
    opens = today + timedelta(days=WINDOW)
    assert {opens, opens + timedelta(days=1)} <= valid  # the window's first day, the day before
    due = {st.due_date for st in everyone.values() if st.acceptance is None}
    assert {today, today - timedelta(days=1)} <= due  # due today: not overdue; yesterday: overdue
    assert any(st.overdue(today) for st in everyone.values())
    assert any(who.anonymised_at and not who.active for who in everyone)
    assert sum(weekly_from(session, s.org, today).values()) > 0

    for filters in FILTERS:
        statuses = counted(everyone, filters)
        expected = figures_from(statuses, today)
        figures = dashboard(session, scope, filters)
        assert figures.by_state == expected["by_state"], filters
        assert figures.overdue == expected["overdue"], filters
        assert figures.total == len(statuses)
        compliant = sum(expected["by_state"][state] for state in COMPLIANT)
        assert figures.completion_rate == pytest.approx(compliant / len(statuses))
        units = {
            (u["directorate"], u["department"]): {
                name: n for name, n in u.items() if name not in ("directorate", "department") and n
            }
            for u in figures.by_unit
        }
        assert units == expected["by_unit"], filters
        assert dict(figures.weekly) == weekly_from(session, s.org, today)

        # The people list and exports (people_frame) say the same of each person.
        frame = people_frame(session, scope, replace(filters, include_anonymised=True))
        assert dict(zip(frame["person_id"], frame["state"], strict=True)) == {
            who.id: st.state.value for who, st in statuses.items()
        }
        assert dict(zip(frame["person_id"], frame["overdue"], strict=True)) == {
            who.id: st.overdue(today) for who, st in statuses.items()
        }
