"""The dashboard's figures, counted by the database, against each person's status worked out
one at a time: one definition of the states, whichever way they are counted.

A seeded random council: leavers, anonymised people, three versions of the policy (the
latest a correction that does not ask anyone to accept again, an older one whose
acceptances no longer count), acceptances in the tool and from paper declarations,
renewals, people part way through a journey or a renewal, and validity and due dates on
and either side of the boundary days of each day checked."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import LONDON
from app.models import (
    Acceptance,
    Organisation,
    Person,
    PolicyVersion,
    QuizAttempt,
    QuizSubmission,
    SectionRead,
)
from app.services.organisations import today_for
from app.services.reports import COMPLIANT, Filters, Scope, dashboard, people_frame
from app.services.status import PersonStatus, State, add_months, person_status
from tests.services import records
from tests.services.records import Setup

DAY = date(2026, 11, 18)  # a Wednesday
SEED = 20261206
PEOPLE = 150
WINDOW = 30  # the organisation's renewal window (its default), in days
DUE_DAYS = 28
# Where a valid-until date falls, in days from DAY. Checked on DAY - 1, DAY and DAY + 1,
# each checked day has someone on its expiry day (0), the day after (-1), the renewal
# window's first day (+30) and the day before it opens (+31). The latest, accepted a year
# before, fall in the dashboard's 12 weeks of completions.
VALID_EDGES = [-400, -40, -2, -1, 0, 1, 2, 29, 30, 31, 32, 120, 300, 350]
# Where a due date falls, in days from DAY (due on the day: not overdue; the day after: overdue).
DUE_EDGES = [-300, -2, -1, 0, 1, 2, 40]
UNITS = [
    ("Place", "Housing"),
    ("Place", "Parks"),
    ("Children's Services", "Fostering"),
    ("Resources", None),
    (None, None),
]


def version(session: Session, s: Setup, number: str, published: date, reaccept: bool) -> Any:
    row = PolicyVersion(
        policy_id=s.version.policy_id,
        version=number,
        title="Corporate Parenting Policy",
        summary="",
        effective_date=published,
        requires_reacceptance=reaccept,
        intro_markdown="",
        intro_html="",
        content_hash=number.replace(".", "")[:1] * 64,
        published_at=datetime.combine(published, time(9), UTC),
    )
    session.add(row)
    session.flush()
    return row


class History:
    """Writes one council's records as the tool would have left them."""

    def __init__(self, session: Session, s: Setup, rng: random.Random) -> None:
        self.session, self.s, self.rng = session, s, rng
        self.codes = 0
        self.hr = records.person(session, s.org, "Harriet Ross")

    def read(self, who: Person, version_id: int, cycle: int, sections: int = 3) -> None:
        for n in range(sections):
            self.session.add(
                SectionRead(
                    person_id=who.id,
                    version_id=version_id,
                    section_key=f"s{n}",
                    cycle=cycle,
                    first_read_at=datetime(2026, 10, 1, 9, n, tzinfo=UTC),
                )
            )
        self.session.flush()

    def quiz(self, who: Person, version_id: int, cycle: int, passed: bool) -> QuizSubmission:
        at = datetime(2026, 10, 2, 10, tzinfo=UTC)
        attempt = QuizAttempt(
            person_id=who.id,
            organisation_id=self.s.org.id,
            policy_version_id=version_id,
            cycle=cycle,
            bank_id=self.s.bank.id,
            drawn=[],
            settings={},
            started_at=at,
        )
        self.session.add(attempt)
        self.session.flush()
        row = QuizSubmission(
            attempt_id=attempt.id,
            submitted_at=at,
            answers={},
            results=[],
            score=10 if passed else 5,
            total=10,
            percent=100 if passed else 50,
            passed=passed,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def accept(
        self, who: Person, version_id: int, cycle: int, until: date, paper: bool = False
    ) -> None:
        """An acceptance valid until `until`, made 12 months before it (on paper: a dated
        declaration HR recorded, with no quiz)."""
        self.codes += 1
        day = add_months(until, -12)
        at = datetime.combine(day, time(12, self.rng.randrange(60)), UTC)
        submission = None if paper else self.quiz(who, version_id, cycle, True)
        self.session.add(
            Acceptance(
                person_id=who.id,
                organisation_id=self.s.org.id,
                policy_version_id=version_id,
                cycle=cycle,
                content_hash="c" * 64,
                declaration_text="I accept",
                declaration_hash="d" * 64,
                quiz_submission_id=submission.id if submission else None,
                quiz_score=None if paper else 100,
                typed_name=who.name,
                accepted_at=at,
                accepted_on=day if paper else None,
                valid_until=until,
                verification_code=f"C{self.codes:09d}",
                recorded_by_person_id=self.hr.id if paper else None,
            )
        )
        self.session.flush()

    def edge(self) -> date:
        return DAY + timedelta(days=self.rng.choice(VALID_EDGES))


def council(session: Session, **settings: Any) -> tuple[Setup, PolicyVersion]:
    """The seeded council; returns its set-up and the version in force (a correction)."""
    rng = random.Random(SEED)
    s = records.setup(session, **settings)  # version 1.0 (2026), everyone to accept again
    old = version(session, s, "0.9", date(2025, 1, 1), True)  # no longer counts
    current = version(session, s, "1.1", date(2026, 6, 1), False)  # 1.0's still count
    history = History(session, s, rng)
    for n in range(PEOPLE):
        directorate, department = rng.choice(UNITS)
        due = DAY + timedelta(days=rng.choice(DUE_EDGES))
        active = rng.random() > 0.2
        who = records.person(
            session,
            s.org,
            f"Person {n}",
            directorate=directorate,
            department=department,
            active=active,
            # Leavers past the retention period are anonymised; they still count in figures.
            anonymised_at=None
            if active or rng.random() < 0.5
            else datetime(2026, 9, 1, tzinfo=UTC),
            # Someone assigned with no date (an old record) is never overdue.
            assigned_on=None if rng.random() < 0.05 else due - timedelta(days=DUE_DAYS),
            start_date=(due - timedelta(days=DUE_DAYS + rng.choice([0, 1])))
            if rng.random() < 0.6
            else None,
        )
        kind = rng.choice(
            [
                "nothing",
                "reading",
                "passed",
                "failed",
                "old version only",
                "accepted 1.0",
                "accepted",
                "paper",
                "renewed",
                "part way through renewing",
            ]
        )
        if kind == "reading":
            history.read(who, current.id, 1, rng.randint(1, 3))
        elif kind in ("passed", "failed"):
            history.read(who, current.id, 1)
            history.quiz(who, current.id, 1, kind == "passed")
        elif kind == "old version only":
            history.accept(who, old.id, 1, history.edge() + timedelta(days=400))
            if rng.random() < 0.5:
                history.read(who, current.id, 1)
        elif kind == "accepted 1.0":
            history.accept(who, s.version.id, 1, history.edge(), paper=rng.random() < 0.5)
        elif kind == "accepted":
            history.accept(who, current.id, 1, history.edge())
        elif kind == "paper":
            history.accept(who, rng.choice([s.version.id, current.id]), 1, history.edge(), True)
        elif kind == "renewed":
            first = history.edge() - timedelta(days=365)
            history.accept(who, current.id, 1, first)
            history.accept(who, current.id, 2, first + timedelta(days=365 + rng.randint(0, 3)))
        else:  # part way through renewing: reading, maybe a pass, in the second journey
            history.accept(who, current.id, 1, history.edge())
            history.read(who, current.id, 2, rng.randint(1, 3))
            if rng.random() < 0.5:
                history.quiz(who, current.id, 2, True)
    # Another council's person, with an acceptance that must not count here.
    other = records.setup_org(session, "Elsewhere District")
    stranger = records.person(session, other, "Sam Stranger", assigned_on=DAY)
    session.add(
        Acceptance(
            person_id=stranger.id,
            organisation_id=other.id,
            policy_version_id=current.id,
            cycle=1,
            content_hash="c" * 64,
            declaration_text="I accept",
            declaration_hash="d" * 64,
            typed_name=stranger.name,
            accepted_at=datetime(2026, 11, 10, 12, tzinfo=UTC),
            valid_until=date(2027, 11, 10),
            verification_code="ELSEWHERE1",
        )
    )
    session.flush()
    return s, current


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
