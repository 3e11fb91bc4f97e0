"""The committee report's figures against HR's dashboard and exports: one definition of the
states. Over the seeded random council of tests/services/history.py (leavers, anonymised
people, renewals, three versions, paper declarations), on its boundary days:

- on today, every figure equals the dashboard's for the same filters;
- on an earlier day, the report's figures (worked out from today's records) equal what the
  dashboard said on that day, before a month of later records were added;
- the year of days counted in one pass (status.completion_over_days) equals the status
  rules' as_of form day by day;
- the forecast, renewals, period and weakest questions at their exact boundaries."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Person, PolicyVersion, QuizBank, SectionRead
from app.services import committee, reports
from app.services.attempts import answered_correctly, question_statistics
from app.services.committee import Count, period_start, trend_days
from app.services.organisations import today_for
from app.services.reports import COMPLIANT, Filters, Scope, dashboard, people_frame
from app.services.status import State, add_months, completion_over_days, counting_versions
from tests.services import history, records
from tests.services.history import version
from tests.services.records import Setup

DAY = date(2026, 11, 18)  # a Wednesday: the history's boundary day
SEED = 20261207
PEOPLE = 160
DUE_DAYS = 28
KEY = "cp"  # records.setup's policy


def council(session: Session, **settings: Any) -> tuple[Setup, PolicyVersion]:
    """The seeded council (tests/services/history.py), with councillors (some on the
    committee) among its people, everyone seen by the tool before the history starts."""
    s, current = history.council(session, DAY, SEED, PEOPLE, **settings)
    rng = random.Random(SEED)
    for who in session.scalars(select(Person).where(Person.organisation_id == s.org.id)):
        who.first_seen_at = datetime(2024, 1, 1, tzinfo=UTC)
        who.elected_member = rng.random() < 0.25
        who.committee_member = who.elected_member and rng.random() < 0.4
    session.flush()
    return s, current


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def by_directorate(figures: reports.Dashboard) -> dict[str, Count]:
    """The dashboard's figures folded to directorates, as the report counts them."""
    out: dict[str, Count] = {}
    for unit in figures.by_unit:
        name = unit["directorate"]
        out[name] = out.get(name, Count()) + Count(
            unit["total"], unit["compliant"], unit["overdue"], unit[State.EXPIRED.value]
        )
    return out


def overall(figures: reports.Dashboard) -> Count:
    return Count(
        figures.total,
        sum(figures.by_state[s] for s in COMPLIANT),
        figures.overdue,
        figures.by_state[State.EXPIRED.value],
    )


def lines(report_lines: list[committee.Line], which: str) -> dict[str, Count]:
    return {
        line.label: getattr(line, which) for line in report_lines if getattr(line, which).people
    }


GROUP_FILTERS = {
    "Councillors on the committee": None,  # no dashboard filter: checked person by person
    "Other councillors": None,
    "All councillors": Filters(elected_member=True),
    "Staff": Filters(elected_member=False),
}


@pytest.mark.parametrize("due_from", ["assignment", "start_date"])
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["day-before", "day", "day-after"])
def test_todays_figures_equal_the_dashboard_and_exports(
    session: Session, due_from: str, offset: int
) -> None:
    s, current = council(session, due_from=due_from, due_days=DUE_DAYS)
    today = DAY + timedelta(days=offset)
    scope = Scope(s.org, current, today_for(s.org, today))
    report = committee.build(session, s.org.id, KEY, today, "quarter", noon(today))

    figures = dashboard(session, scope)
    assert report.overall.now == overall(figures)
    assert lines(report.by_directorate, "now") == by_directorate(figures)
    assert report.overall.now.overdue > 0 and report.overall.now.expired > 0
    for group, filters in GROUP_FILTERS.items():
        if filters is not None:
            line = next(g for g in report.groups if g.label == group)
            assert line.now == overall(dashboard(session, scope, filters)), group
    # The exports say the same of each person (anonymised people count in figures only).
    frame = people_frame(session, scope, Filters(include_anonymised=True))
    assert report.overall.now.people == len(frame)
    assert report.overall.now.completed == int(frame["state"].isin(COMPLIANT).sum())
    assert report.overall.now.overdue == int(frame["overdue"].sum())
    councillors = people_frame(
        session, scope, Filters(elected_member=True, include_anonymised=True)
    )
    committee_ids = set(session.scalars(select(Person.id).where(Person.committee_member.is_(True))))
    on_committee = councillors[councillors["person_id"].isin(committee_ids)]
    line = report.groups[0]
    assert line.label == "Councillors on the committee"
    assert line.now == Count(
        len(on_committee),
        int(on_committee["state"].isin(COMPLIANT).sum()),
        int(on_committee["overdue"].sum()),
        int((on_committee["state"] == State.EXPIRED.value).sum()),
    )
    assert line.now.people > 0
    assert report.groups[0].now + report.groups[1].now == report.groups[2].now
    assert report.groups[2].now + report.groups[3].now == report.overall.now


def later_records(session: Session, s: Setup, current: PolicyVersion, after: date) -> None:
    """A month of records made after `after`: acceptances by people overdue or expired
    then, new starters, leavers, reading, a paper declaration recorded late but signed
    later too, and a version (no one need accept again) published afterwards."""
    rng = random.Random(SEED + 1)
    people = list(
        session.scalars(
            select(Person)
            .where(Person.organisation_id == s.org.id, Person.active.is_(True))
            .order_by(Person.id)
        )
    )
    hr = people[0]  # records the paper declarations
    for n, who in enumerate(rng.sample(people, 40)):
        day = after + timedelta(days=1 + n % 20)
        if n % 4 == 0:
            who.active, who.left_on = False, day  # left after the day: counted on it
        elif n % 4 == 1:
            session.add(
                SectionRead(
                    person_id=who.id,
                    version_id=current.id,
                    section_key="z",
                    cycle=9,
                    first_read_at=noon(day),
                )
            )
        else:
            records.acceptance(
                session,
                s,
                who,
                add_months(day, 12),
                version_id=current.id,
                cycle=5,
                at=noon(day),
                accepted_on=day if n % 4 == 3 else None,
                code=f"L{s.org.id:03d}{n:06d}",
                recorded_by_person_id=hr.id if n % 4 == 3 else None,
            )
    for n in range(12):
        records.person(
            session,
            s.org,
            f"New Starter {n}",
            directorate="Place",
            assigned_on=after + timedelta(1 + n),
            first_seen_at=noon(after + timedelta(1 + n)),
        )
    version(session, s.version.policy_id, "1.2", noon(after + timedelta(days=10)), False)
    session.flush()


@pytest.mark.parametrize("due_from", ["assignment", "start_date"])
def test_an_earlier_days_figures_equal_what_the_dashboard_said_that_day(
    session: Session, due_from: str
) -> None:
    s, current = council(session, due_from=due_from, due_days=DUE_DAYS)
    # Everyone on the books on DAY was assigned by then (the history's future assignments
    # are of people not yet there): the dashboard on DAY knew only what was done by DAY.
    session.execute(update(Person).where(Person.assigned_on > DAY).values(assigned_on=DAY))
    scope = Scope(s.org, current, today_for(s.org, DAY))
    then = {
        "overall": overall(dashboard(session, scope)),
        "by_directorate": by_directorate(dashboard(session, scope)),
        **{g: overall(dashboard(session, scope, f)) for g, f in GROUP_FILTERS.items() if f},
    }
    later_records(session, s, current, DAY)
    later = DAY + timedelta(days=40)

    # The report on DAY itself, a month later: status_query's as_of form.
    report = committee.build(session, s.org.id, KEY, DAY, "quarter", noon(later))
    assert report.overall.now == then["overall"]
    assert lines(report.by_directorate, "now") == then["by_directorate"]
    for group in ("All councillors", "Staff"):
        assert next(g for g in report.groups if g.label == group).now == then[group]

    # DAY as the start of a month's period: counted with the year of days in one pass.
    month_on = add_months(DAY, 1)
    report = committee.build(session, s.org.id, KEY, month_on, "month", noon(later))
    assert report.period_start == DAY
    assert report.overall.start == then["overall"]
    assert lines(report.by_directorate, "start") == then["by_directorate"]
    point = next(p for p in report.trend if p.day == DAY)
    assert (point.overall, point.councillors, point.staff) == (
        then["overall"],
        then["All councillors"],
        then["Staff"],
    )
    # ...and its own day is today's records as the dashboard counts them.
    assert report.overall.now.people == then["overall"].people + 12 - 10


def test_a_year_of_days_in_one_pass_equals_the_rules_day_by_day(session: Session) -> None:
    s, current = council(session, due_days=DUE_DAYS)
    later_records(session, s, current, DAY)
    # Boundary days around DAY (expiry, renewal window, due dates, leavers) and a year of
    # months back, across the versions' changes of what counts.
    days = sorted(
        {DAY + timedelta(days=d) for d in (-31, -30, -29, -2, -1, 0, 1, 2, 3, 10, 11, 20, 21)}
        | set(trend_days(DAY))
        | {date(2025, 12, 31), date(2026, 1, 1), date(2026, 5, 31), date(2026, 6, 1)}
    )
    keys = (Person.directorate, Person.elected_member, Person.committee_member)
    counted = []
    for day in days:
        scope = reports.scope_for(session, s.org.id, KEY, day)
        counted.append((today_for(s.org, day), counting_versions(session, scope.version)))
    assert len({tuple(c) for _, c in counted}) >= 2  # several sets of counting versions
    over_days = completion_over_days(s.org.id, counted, keys)
    one_pass: dict[date, dict[Any, tuple[int, int, int, int]]] = {d: {} for d in days}
    for row in session.execute(over_days.statement):
        key = (row.directorate, row.elected_member, row.committee_member)
        for day, figures in zip(days, over_days.counts(row), strict=True):
            was = one_pass[day].get(key, (0, 0, 0, 0))
            one_pass[day][key] = (
                was[0] + figures[0],
                was[1] + figures[1],
                was[2] + figures[2],
                was[3] + figures[3],
            )
    for day in days:
        scope = reports.scope_for(session, s.org.id, KEY, day)
        run = reports.counts_statement(session, scope, as_of=True)
        expected: dict[Any, tuple[int, int, int, int]] = {}
        for row in session.execute(run.statement, run.params):
            key = (row.directorate, row.elected_member, row.committee_member)
            was = expected.get(key, (0, 0, 0, 0))
            expected[key] = (
                was[0] + row.n,
                was[1] + (row.n if row.state in COMPLIANT else 0),
                was[2] + row.overdue,
                was[3] + (row.n if row.state == State.EXPIRED.value else 0),
            )
        got = {k: v for k, v in one_pass[day].items() if any(v)}
        assert got == expected, day


def test_on_the_books_from_the_day_assigned_until_the_day_they_left(session: Session) -> None:
    s = records.setup(session)
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    records.person(session, s.org, "Assigned On The Day", assigned_on=DAY, first_seen_at=seen)
    records.person(
        session, s.org, "Assigned Next Day", assigned_on=DAY + timedelta(1), first_seen_at=seen
    )
    records.person(
        session,
        s.org,
        "Left On The Day",
        assigned_on=date(2026, 1, 5),
        active=False,
        left_on=DAY,
        first_seen_at=seen,
    )
    records.person(
        session,
        s.org,
        "Left Next Day",
        assigned_on=date(2026, 1, 5),
        active=False,
        left_on=DAY + timedelta(1),
        first_seen_at=seen,
    )
    records.person(
        session,
        s.org,
        "Left Some Day",
        assigned_on=date(2026, 1, 5),
        active=False,
        first_seen_at=seen,
    )
    # No assignment date: from the moment first seen, in London (BST ends 25 October).
    records.person(
        session,
        s.org,
        "Seen Late On The Day",
        assigned_on=None,
        first_seen_at=datetime(2026, 11, 18, 23, 59, tzinfo=UTC),
    )
    records.person(
        session,
        s.org,
        "Seen Just After",
        assigned_on=None,
        first_seen_at=datetime(2026, 11, 19, 0, 0, tzinfo=UTC),
    )
    scope = reports.scope_for(session, s.org.id, KEY, DAY)
    people, params = reports._counted(session, scope, as_of=True)
    counted = {row.name for row in session.execute(select(people.c.name), params)}
    assert counted == {"Assigned On The Day", "Left Next Day", "Seen Late On The Day"}
    over_days = completion_over_days(
        s.org.id, [(today_for(s.org, DAY), [s.version.id])], (Person.name,)
    )
    in_one_pass = {
        row.name for row in session.execute(over_days.statement) if over_days.counts(row)[0][0]
    }
    assert in_one_pass == counted


def accepted(
    session: Session,
    s: Setup,
    who: Person,
    at: datetime,
    until: date,
    on: date | None = None,
    code: str = "X",
) -> None:
    records.acceptance(session, s, who, until, at=at, accepted_on=on, code=f"{code}{who.id:06d}")


def test_an_acceptance_counts_from_its_day_in_london_and_a_paper_one_from_its_signing(
    session: Session,
) -> None:
    s = records.setup(session)
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    late = records.person(
        session, s.org, "Accepted 23:59 UTC", assigned_on=date(2026, 2, 1), first_seen_at=seen
    )
    # 18 November 23:59 UTC is 23:59 in London (GMT): made on the day.
    accepted(session, s, late, datetime(2026, 11, 18, 23, 59, tzinfo=UTC), date(2027, 11, 18))
    summer = records.person(
        session,
        s.org,
        "Accepted 23:30 UTC in BST",
        assigned_on=date(2026, 2, 1),
        first_seen_at=seen,
    )
    # 30 June 23:30 UTC is 1 July 00:30 in London: made on 1 July, not 30 June.
    accepted(session, s, summer, datetime(2026, 6, 30, 23, 30, tzinfo=UTC), date(2027, 7, 1))
    paper = records.person(
        session,
        s.org,
        "Signed 1 June, recorded 1 August",
        assigned_on=date(2026, 2, 1),
        first_seen_at=seen,
    )
    accepted(
        session,
        s,
        paper,
        datetime(2026, 8, 1, 9, tzinfo=UTC),
        date(2027, 6, 1),
        on=date(2026, 6, 1),
    )

    def completed(day: date) -> set[str]:
        scope = reports.scope_for(session, s.org.id, KEY, day)
        people, params = reports._counted(session, scope, as_of=True)
        return {
            row.name
            for row in session.execute(
                select(people.c.name).where(people.c.state.in_(COMPLIANT)), params
            )
        }

    assert completed(date(2026, 11, 17)) == {
        "Accepted 23:30 UTC in BST",
        "Signed 1 June, recorded 1 August",
    }
    assert "Accepted 23:59 UTC" in completed(DAY)
    assert "Accepted 23:30 UTC in BST" not in completed(date(2026, 6, 30))
    assert "Accepted 23:30 UTC in BST" in completed(date(2026, 7, 1))
    assert "Signed 1 June, recorded 1 August" in completed(date(2026, 6, 1))
    assert "Signed 1 June, recorded 1 August" not in completed(date(2026, 5, 31))


# -- the forecast, at its exact boundaries ---------------------------------------------------


def test_forecast_reaches_the_target_on_the_day_the_straight_line_gets_there() -> None:
    # 85% now, 77% 8 weeks ago: 1 point a week, 10 points to go -> 70 days.
    now, before = Count(100, 85), Count(100, 77)
    f = committee.forecast("Place", now, before, DAY, 95)
    assert f.points_per_week == pytest.approx(1.0)
    assert f.reaches_on == DAY + timedelta(days=70)
    assert f.text == "27 January 2027"
    # A part of a day is a whole day more: 10.5 points to go -> 73.5 days -> 74.
    assert committee.forecast("P", Count(200, 169), Count(200, 153), DAY, 95).reaches_on == (
        DAY + timedelta(days=74)
    )


def test_forecast_says_reached_at_the_target_and_not_at_this_rate_when_not_rising() -> None:
    assert committee.forecast("P", Count(100, 95), Count(100, 90), DAY, 95).reached
    assert committee.forecast("P", Count(100, 95), Count(100, 90), DAY, 95).text == (
        "Target reached"
    )
    below = committee.forecast("P", Count(1000, 949), Count(1000, 900), DAY, 95)
    assert not below.reached and below.reaches_on == DAY + timedelta(days=2)  # 1.14 days
    flat = committee.forecast("P", Count(100, 80), Count(100, 80), DAY, 95)
    assert flat.reaches_on is None and flat.text == "Not at this rate"
    falling = committee.forecast("P", Count(100, 70), Count(100, 80), DAY, 95)
    assert falling.reaches_on is None and falling.points_per_week == pytest.approx(-1.25)
    # More than ten years away is not a date a committee can use.
    slow = committee.forecast("P", Count(100_000, 10_000), Count(100_000, 9_999), DAY, 95)
    assert slow.reaches_on is None and slow.text == "Not at this rate"
    empty = committee.forecast("P", Count(), Count(), DAY, 95)
    assert empty.rate_now is None and empty.text == "Not at this rate"


def test_periods_and_trend_days_keep_the_day_of_the_month_where_it_exists() -> None:
    assert period_start(date(2026, 11, 18), "quarter") == date(2026, 8, 18)
    assert period_start(date(2026, 5, 31), "quarter") == date(2026, 2, 28)
    assert period_start(date(2028, 5, 31), "quarter") == date(2028, 2, 29)
    assert period_start(date(2026, 3, 31), "month") == date(2026, 2, 28)
    assert period_start(date(2026, 2, 28), "year") == date(2025, 2, 28)
    assert trend_days(date(2026, 12, 31))[0] == date(2025, 12, 31)
    assert trend_days(date(2026, 12, 31))[2] == date(2026, 2, 28)
    assert trend_days(DAY)[-1] == DAY and len(trend_days(DAY)) == 13


def test_renewals_count_from_the_day_to_ninety_days_after_it(session: Session) -> None:
    s = records.setup(session)
    today = DAY
    until = {-1: "a", 0: "b", 30: "c", 31: "d", 60: "e", 61: "f", 90: "g", 91: "h"}
    for n, (days, name) in enumerate(until.items()):
        who = records.person(
            session, s.org, name, directorate="Place", assigned_on=date(2025, 1, 1)
        )
        accepted(
            session,
            s,
            who,
            noon(add_months(today + timedelta(days), -12)),
            today + timedelta(days),
            code=f"R{n}",
        )
    report = committee.build(session, s.org.id, KEY, today, "quarter", noon(today))
    place = next(r for r in report.renewals if r.label == "Place")
    assert (place.within_30, place.within_60, place.within_90) == (2, 2, 2)
    assert report.renewals[-1].label == "All directorates" and report.renewals[-1].total == 6


# -- weakest questions -----------------------------------------------------------------------


def test_weakest_questions_are_counted_like_the_quiz_statistics_in_the_period(
    session: Session,
) -> None:
    s = records.setup(session, questions=4)
    bank = session.get(QuizBank, s.bank.id)
    assert bank is not None
    people = [
        records.person(session, s.org, f"P{n}", assigned_on=date(2026, 1, 1)) for n in range(12)
    ]
    start = period_start(DAY, "quarter")
    # q1 right 1 in 10, q2 right 5 in 10, q3 right 9 in 10: answered 10 times in the
    # period; q4 answered 9 times (too few to rank). One answer the day before the period
    # (at the period's start, the end of its first day, in London) and one after DAY.
    for n, who in enumerate(people[:10]):
        results = [
            {"id": "q1", "correct": n == 0},
            {"id": "q2", "correct": n < 5},
            {"id": "q3", "correct": n < 9},
            *([{"id": "q4", "correct": False}] if n < 9 else []),
        ]
        records.submission(session, s, who, noon(start + timedelta(days=1 + n)), results=results)
    wrong = [{"id": "q4", "correct": False}]
    records.submission(
        session, s, people[10], datetime(2026, 8, 18, 22, 59, tzinfo=UTC), results=wrong
    )
    records.submission(
        session, s, people[11], datetime(2026, 11, 19, 0, 0, tzinfo=UTC), results=wrong
    )
    report = committee.build(session, s.org.id, KEY, DAY, "quarter", noon(DAY + timedelta(1)))
    assert [(q.question_id, q.answered, q.correct) for q in report.weakest] == [
        ("q1", 10, 1),
        ("q2", 10, 5),
        ("q3", 10, 9),
    ]
    assert report.questions_ranked == 3
    assert report.weakest[0].stem == "Question 1?" and report.weakest[0].share == 0.1
    # Counted by the database as the quiz statistics count them in Python.
    everything = answered_correctly(
        session,
        s.org.id,
        bank.id,
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
    )
    stats = question_statistics(session, s.org.id, bank)
    assert everything == {q.id: (q.attempts, q.correct) for q in stats if q.attempts}
    assert everything["q4"] == (11, 0)


def test_councillors_not_completed_are_named_only_when_the_organisation_lists_them(
    session: Session,
) -> None:
    s = records.setup(session)
    councillors: dict[str, dict[str, Any]] = {
        "Cllr Ada Bold": {"first_name": "Ada", "last_name": "Bold"},
        "Cllr Done": {"first_name": "Done", "last_name": "Already"},
        "Cllr Gone": {"active": False, "left_on": DAY},
        "Cllr Anon": {"anonymised_at": noon(DAY), "active": False},
        "Staff Member": {"elected_member": False},
    }
    for name, kw in councillors.items():
        who = records.person(
            session,
            s.org,
            name,
            elected_member=kw.pop("elected_member", True),
            assigned_on=date(2026, 1, 1),
            **kw,
        )
        if name == "Cllr Done":
            accepted(session, s, who, noon(DAY), add_months(DAY, 12))
    report = committee.build(session, s.org.id, KEY, DAY, "quarter", noon(DAY))
    assert report.councillors_not_completed is None  # off by default
    s.org.report_councillor_names = "listed"
    report = committee.build(session, s.org.id, KEY, DAY, "quarter", noon(DAY))
    assert report.councillors_not_completed == ["Ada Bold"]
    earlier = committee.build(session, s.org.id, KEY, DAY - timedelta(1), "quarter", noon(DAY))
    # The day before: Done had not yet accepted, and Gone had not yet left.
    assert earlier.councillors_not_completed == ["Done Already", "Ada Bold", "Cllr Gone"]


def test_the_report_refuses_a_day_after_today_and_an_unknown_period(session: Session) -> None:
    s = records.setup(session)
    with pytest.raises(ValueError):
        committee.build(session, s.org.id, KEY, DAY + timedelta(1), "quarter", noon(DAY))
    with pytest.raises(ValueError):
        committee.build(session, s.org.id, KEY, DAY, "fortnight", noon(DAY))
    with pytest.raises(reports.NoPolicy):
        committee.build(session, s.org.id, KEY, date(2025, 12, 31), "quarter", noon(DAY))


def test_methods_give_the_version_and_the_audit_trail_the_figures_were_taken_at(
    session: Session,
) -> None:
    from app.services import audit

    s = records.setup(session)
    audit.record(session, s.org.id, "config_change", noon(DAY), actor="test")
    audit.record(session, s.org.id, "config_change", noon(DAY), actor="test")
    taken = noon(DAY) + timedelta(hours=3)
    report = committee.build(session, s.org.id, KEY, DAY, "quarter", taken)
    assert report.methods.policy_version == "1.0"
    assert report.methods.taken_at == taken
    assert report.methods.audit_seq == 2 and len(report.methods.audit_hash or "") == 64
    assert report.methods.checkpoint_at is None
    assert report.target_percent == 95 and report.period_start == date(2026, 8, 18)
    assert report.overall.now == Count()
