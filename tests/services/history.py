"""A seeded random history of one council, written straight into the tables as the tool
would have left it: for tests that compare the figures counted by the database with each
person's status worked out on its own.

Leavers (some anonymised), three versions of the policy, acceptances in the tool and from
paper declarations, renewals, people part way through a journey or a renewal, and
valid-until and due dates on and either side of the boundary days around `day`."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.models import (
    Acceptance,
    Organisation,
    Person,
    PolicyVersion,
    QuizAttempt,
    QuizSubmission,
    SectionRead,
)
from app.services.status import add_months
from tests.services import records
from tests.services.records import Setup

WINDOW = 30  # the renewal window the tests' organisations keep (the default), in days
# Where a valid-until date falls, in days from the history's day. Checked on that day and
# the days either side, each has someone on its expiry day (0), the day after (-1), the
# renewal window's first day (+30) and the day before it opens (+31). The latest, accepted
# a year before, fall in the dashboard's 12 weeks of completions.
VALID_EDGES = [-400, -40, -2, -1, 0, 1, 2, 29, 30, 31, 32, 120, 300, 350]
# Where a due date falls, in days from the history's day (due that day: not yet overdue).
DUE_EDGES = [-300, -2, -1, 0, 1, 2, 40]
UNITS = [
    ("Place", "Housing"),
    ("Place", "Parks"),
    ("Children's Services", "Fostering"),
    ("Resources", None),
    (None, None),
]
KINDS = [
    "nothing",
    "reading",
    "passed",
    "failed",
    "old version only",
    "accepted the earlier version",
    "accepted",
    "paper",
    "renewed",
    "part way through renewing",
]


def version(
    session: Session, policy_id: int, number: str, published: datetime, reaccept: bool
) -> PolicyVersion:
    row = PolicyVersion(
        policy_id=policy_id,
        version=number,
        title="Corporate Parenting Policy",
        summary="",
        effective_date=published.date(),
        requires_reacceptance=reaccept,
        intro_markdown="",
        intro_html="",
        content_hash=f"{number:x>64}"[-64:],
        published_at=published,
    )
    session.add(row)
    session.flush()
    return row


class History:
    """Writes one council's records as the tool would have left them."""

    def __init__(
        self, session: Session, org: Organisation, bank_id: int, day: date, seed: int
    ) -> None:
        self.session, self.org, self.bank_id, self.day = session, org, bank_id, day
        self.rng = random.Random(seed)
        self.codes = 0
        self.hr = Person(organisation_id=org.id, name="Harriet Ross", assigned_on=day)
        session.add(self.hr)
        session.flush()

    def read(self, who: Person, version_id: int, cycle: int, sections: int = 3) -> None:
        for n in range(sections):
            self.session.add(
                SectionRead(
                    person_id=who.id,
                    version_id=version_id,
                    section_key=f"s{n}",
                    cycle=cycle,
                    first_read_at=datetime.combine(self.day, time(9, n), UTC),
                )
            )
        self.session.flush()

    def quiz(self, who: Person, version_id: int, cycle: int, passed: bool) -> QuizSubmission:
        at = datetime.combine(self.day - timedelta(days=30), time(10), UTC)
        attempt = QuizAttempt(
            person_id=who.id,
            organisation_id=self.org.id,
            policy_version_id=version_id,
            cycle=cycle,
            bank_id=self.bank_id,
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
                organisation_id=self.org.id,
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
                verification_code=f"H{self.org.id:03d}{self.codes:06d}",
                recorded_by_person_id=self.hr.id if paper else None,
            )
        )
        self.session.flush()

    def edge(self) -> date:
        return self.day + timedelta(days=self.rng.choice(VALID_EDGES))

    def person(self, n: int, due_days: int) -> Person:
        rng = self.rng
        directorate, department = rng.choice(UNITS)
        due = self.day + timedelta(days=rng.choice(DUE_EDGES))
        active = rng.random() > 0.2
        who = Person(
            organisation_id=self.org.id,
            name=f"Person {n}",
            directorate=directorate,
            department=department,
            active=active,
            # Leavers past the retention period are anonymised; they still count in figures.
            anonymised_at=None
            if active or rng.random() < 0.5
            else datetime.combine(self.day, time(3), UTC),
            # Someone assigned with no date (an old record) is never overdue.
            assigned_on=None if rng.random() < 0.05 else due - timedelta(days=due_days),
            start_date=(due - timedelta(days=due_days + rng.choice([0, 1])))
            if rng.random() < 0.6
            else None,
        )
        self.session.add(who)
        self.session.flush()
        return who

    def populate(
        self, people: int, due_days: int, old_id: int, earlier_id: int, current_id: int
    ) -> None:
        """`people` people with random histories. old_id: a version whose acceptances no
        longer count; earlier_id: one whose still do; current_id: the version in force."""
        rng = self.rng
        for n in range(people):
            who = self.person(n, due_days)
            kind = rng.choice(KINDS)
            if kind == "reading":
                self.read(who, current_id, 1, rng.randint(1, 3))
            elif kind in ("passed", "failed"):
                self.read(who, current_id, 1)
                self.quiz(who, current_id, 1, kind == "passed")
            elif kind == "old version only":
                self.accept(who, old_id, 1, self.edge() + timedelta(days=400))
                if rng.random() < 0.5:
                    self.read(who, current_id, 1)
            elif kind == "accepted the earlier version":
                self.accept(who, earlier_id, 1, self.edge(), paper=rng.random() < 0.5)
            elif kind == "accepted":
                self.accept(who, current_id, 1, self.edge())
            elif kind == "paper":
                self.accept(who, rng.choice([earlier_id, current_id]), 1, self.edge(), True)
            elif kind == "renewed":
                first = self.edge() - timedelta(days=365)
                self.accept(who, current_id, 1, first)
                self.accept(who, current_id, 2, first + timedelta(days=365 + rng.randint(0, 3)))
            else:  # part way through renewing: reading, maybe a pass, in the second journey
                self.accept(who, current_id, 1, self.edge())
                self.read(who, current_id, 2, rng.randint(1, 3))
                if rng.random() < 0.5:
                    self.quiz(who, current_id, 2, True)


def council(
    session: Session, day: date, seed: int, people: int, **settings: Any
) -> tuple[Setup, PolicyVersion]:
    """A seeded council of `people` around `day` (settings: the organisation's), and
    another council with one person whose acceptance must never count in the first's
    figures. Its versions: 0.9 (2025, no longer
    counts), 1.0 (2026, everyone to accept again) and 1.1 (June 2026, a correction: 1.0's
    acceptances still count), the version in force, which it returns with the set-up."""
    s = records.setup(session, **settings)
    old = version(session, s.version.policy_id, "0.9", datetime(2025, 1, 1, tzinfo=UTC), True)
    current = version(session, s.version.policy_id, "1.1", datetime(2026, 6, 1, tzinfo=UTC), False)
    History(session, s.org, s.bank.id, day, seed).populate(
        people, settings.get("due_days", 28), old.id, s.version.id, current.id
    )
    other = records.setup_org(session, "Elsewhere District")
    stranger = records.person(session, other, "Sam Stranger", assigned_on=day)
    History(session, other, s.bank.id, day, seed).accept(stranger, current.id, 1, day)
    return s, current
