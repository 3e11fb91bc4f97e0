"""The Corporate Parenting Committee's report: completion now and at the start of a period,
by directorate and for councillors and staff, a year's trend and a forecast, renewals
coming up, the quiz's weakest questions, and how the figures were taken.

Every figure comes from status.status_query, the one definition of the states: "now" is
counted by the same statement as HR's dashboard (reports._people); an earlier day by its
"as of" form, which keeps only the records made by the end of that day. This module builds
the figures; committee_pdf.py and the HR page (hr/report.html) lay them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from app.clock import london_date, long_date, long_datetime
from app.db import more_memory_for_reports
from app.models import AuditHead, Organisation, Person
from app.services import anchoring, organisations, reports
from app.services.attempts import answered_correctly
from app.services.policies import current_version
from app.services.question_bank import current_bank
from app.services.status import (
    State,
    Today,
    add_months,
    completion_over_days,
    counting_versions,
    end_of_day,
)

PERIODS = ("quarter", "month", "year")
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
TREND_MONTHS = 12
FORECAST_WEEKS = 8
RENEWAL_DAYS = 90
WEAKEST = 5  # questions listed
MIN_ANSWERS = 10  # a question answered fewer times in the period is not ranked


@dataclass(frozen=True)
class Count:
    """One group's figures on one day."""

    people: int = 0
    completed: int = 0  # completed and in date: certified or due for renewal
    overdue: int = 0  # past the due date, never completed (on the version that counts)
    expired: int = 0

    @property
    def rate(self) -> float | None:
        """Share completed and in date, 0..1; None for a group with no one in it."""
        return self.completed / self.people if self.people else None

    def __add__(self, other: Count) -> Count:
        return Count(
            self.people + other.people,
            self.completed + other.completed,
            self.overdue + other.overdue,
            self.expired + other.expired,
        )


@dataclass(frozen=True)
class Line:
    """A row of the report's tables: a group now and at the start of the period."""

    label: str
    now: Count
    start: Count

    @property
    def change(self) -> float | None:
        """Percentage points gained (or lost, negative) over the period."""
        if self.now.rate is None or self.start.rate is None:
            return None
        return 100 * (self.now.rate - self.start.rate)


@dataclass(frozen=True)
class TrendPoint:
    """Completion on one day of the last 12 months (the last point is the report's day)."""

    day: date
    overall: Count
    councillors: Count
    staff: Count


@dataclass(frozen=True)
class Forecast:
    """When a group reaches the target at the last 8 weeks' rate."""

    label: str
    rate_now: float | None
    rate_before: float | None  # 8 weeks before the report's day
    points_per_week: float | None  # percentage points gained a week over those 8 weeks
    reached: bool  # at or above the target already
    reaches_on: date | None  # None: reached, or not at this rate

    @property
    def text(self) -> str:
        if self.reached:
            return "Target reached"
        if self.reaches_on is None:
            return "Not at this rate"
        return f"{self.reaches_on.day} {self.reaches_on:%B %Y}"


@dataclass(frozen=True)
class Renewals:
    """People whose completion runs out in the next 90 days, by when."""

    label: str
    within_30: int  # the report's day to 30 days after it
    within_60: int  # 31 to 60 days after
    within_90: int  # 61 to 90 days after

    @property
    def total(self) -> int:
        return self.within_30 + self.within_60 + self.within_90


@dataclass(frozen=True)
class WeakQuestion:
    """A quiz question by its share of correct answers in the period."""

    question_id: str
    section: str
    stem: str
    answered: int
    correct: int

    @property
    def share(self) -> float:
        return self.correct / self.answered if self.answered else 0.0


@dataclass(frozen=True)
class Methods:
    """How the figures were taken: enough for someone to reproduce or challenge them."""

    policy_version: str  # the version in force on the report's day
    due_days: int
    validity_months: int
    taken_at: datetime  # when the figures were counted (UTC)
    audit_seq: int | None  # the organisation's audit trail stood at this event...
    audit_hash: str | None  # ...with this hash (None: no events yet)
    checkpoint_at: datetime | None  # the latest checkpoint written outside the database
    checkpoint_seq: int | None


@dataclass(frozen=True)
class CommitteeReport:
    organisation: str
    day: date  # the figures are as at the end of this day
    period: str  # quarter, month or year
    period_start: date  # the day the period's "start" figures are taken on
    target_percent: int
    overall: Line
    by_directorate: list[Line]  # by name; people with none recorded last ("Not recorded")
    # Councillors on the committee, other councillors, all councillors, then staff.
    groups: list[Line]
    # Councillors who have not completed (names only), if the organisation lists them;
    # None when it does not (the default).
    councillors_not_completed: list[str] | None
    trend: list[TrendPoint]  # 13 points, a month apart, the last on the report's day
    forecasts: list[Forecast]  # overall first, then each directorate
    renewals: list[Renewals]  # each directorate, then the total
    weakest: list[WeakQuestion]  # lowest share correct first, at most WEAKEST
    questions_ranked: int  # how many questions had enough answers to rank
    methods: Methods


NOT_RECORDED = "Not recorded"
GROUPS = ("Councillors on the committee", "Other councillors", "All councillors", "Staff")
Key = tuple[str, bool, bool]  # directorate, councillor, on the committee


def period_start(day: date, period: str) -> date:
    """The day the period's "start" figures are taken on: the same day a quarter (a month, a
    year) earlier; the end of that day, as every figure is."""
    return add_months(day, -PERIOD_MONTHS[period])


def trend_days(day: date) -> list[date]:
    """The trend's points: the same day of each of the last 12 months, then `day`."""
    return [add_months(day, -k) for k in range(TREND_MONTHS, -1, -1)]


@dataclass(frozen=True)
class _Day:
    """Everyone's figures on one day, by directorate, councillor and committee member."""

    counts: dict[Key, Count]
    renewals: dict[str, tuple[int, int, int]]

    def where(self, keep: Any) -> Count:
        return sum((c for key, c in self.counts.items() if keep(*key)), Count())


def _figures(
    session: Session,
    organisation_id: int,
    policy_key: str,
    day: date,
    *,
    as_of: bool,
    renewals: bool = False,
) -> _Day:
    try:
        scope = reports.scope_for(session, organisation_id, policy_key, day)
    except reports.NoPolicy:
        # No version was in force yet that day: no one could have completed it.
        if not as_of:
            raise
        return _Day({}, {})
    run = reports.counts_statement(
        session, scope, as_of=as_of, renewals_from=day if renewals else None
    )
    counts: dict[Key, Count] = {}
    ending: dict[str, tuple[int, int, int]] = {}
    for row in session.execute(run.statement, run.params):
        key = (row.directorate or NOT_RECORDED, bool(row.elected_member), row.committee_member)
        counts[key] = counts.get(key, Count()) + Count(
            row.n,
            row.n if row.state in reports.COMPLIANT else 0,
            row.overdue,
            row.n if row.state == State.EXPIRED.value else 0,
        )
        if renewals:
            soon = ending.get(key[0], (0, 0, 0))
            ending[key[0]] = (
                soon[0] + row.renewals_0,
                soon[1] + row.renewals_1,
                soon[2] + row.renewals_2,
            )
    return _Day(counts, ending)


def _earlier(
    session: Session, organisation: Organisation, policy_key: str, days: list[date]
) -> dict[date, _Day]:
    """Everyone's figures on each of `days` (earlier than today), counted together
    (status.completion_over_days), each day on the version then in force."""
    figures = {d: _Day({}, {}) for d in days}
    counted: list[tuple[Today, list[int]]] = []
    for d in days:
        version = current_version(session, policy_key, d)
        if version is not None:  # else no version was in force yet: no one had completed
            counted.append(
                (organisations.today_for(organisation, d), counting_versions(session, version))
            )
    if not counted:
        return figures
    keys = (Person.directorate, Person.elected_member, Person.committee_member)
    over_days = completion_over_days(organisation.id, counted, keys)
    totals: dict[tuple[date, Key], list[int]] = {}
    for row in session.execute(over_days.statement):
        key = (row.directorate or NOT_RECORDED, bool(row.elected_member), row.committee_member)
        for (when, _), figures_then in zip(counted, over_days.counts(row), strict=True):
            if any(figures_then):
                total = totals.setdefault((when.today, key), [0, 0, 0, 0])
                for i, value in enumerate(figures_then):
                    total[i] += value
    for (day, key), (people, completed, overdue, expired) in totals.items():
        if people or completed or expired:
            figures[day].counts[key] = Count(people, completed, overdue, expired)
    return figures


def _directorates(*days: _Day) -> list[str]:
    """Every directorate with people on any of the days, by name; "Not recorded" last."""
    names = {key[0] for d in days for key in d.counts}
    return sorted(names - {NOT_RECORDED}) + ([NOT_RECORDED] if NOT_RECORDED in names else [])


def _group(name: str) -> Any:
    """Whom one of GROUPS counts (a committee member who is not a councillor is staff: the
    committee is councillors; officers who attend it are not its members)."""
    return {
        GROUPS[0]: lambda _d, councillor, committee: councillor and committee,
        GROUPS[1]: lambda _d, councillor, committee: councillor and not committee,
        GROUPS[2]: lambda _d, councillor, _c: councillor,
        GROUPS[3]: lambda _d, councillor, _c: not councillor,
    }[name]


def forecast(label: str, now: Count, before: Count, day: date, target_percent: int) -> Forecast:
    """At the rate of the last FORECAST_WEEKS weeks (percentage points a day, straight
    line), the first day the share reaches the target; None if it is not rising. Worked
    out in fractions: the day must not move with a rounding error."""
    rate, earlier = now.rate, before.rate
    if now.people == 0 or before.people == 0:
        reached = bool(now.people) and 100 * now.completed >= target_percent * now.people
        return Forecast(label, rate, earlier, None, reached, None)
    share = Fraction(100 * now.completed, now.people)
    gained = share - Fraction(100 * before.completed, before.people)  # over the 8 weeks
    per_week = float(gained / FORECAST_WEEKS)
    if share >= target_percent:
        return Forecast(label, rate, earlier, per_week, True, None)
    if gained <= 0:
        return Forecast(label, rate, earlier, per_week, False, None)
    days = math.ceil((target_percent - share) * 7 * FORECAST_WEEKS / gained)
    # Beyond ten years a straight line says nothing a committee could use.
    reaches = day + timedelta(days=days) if days <= 3653 else None
    return Forecast(label, rate, earlier, per_week, False, reaches)


def build(
    session: Session,
    organisation_id: int,
    policy_key: str,
    day: date,
    period: str,
    now: datetime,
) -> CommitteeReport:
    """The report as at the end of `day` (today, or an earlier day), over `period`.

    Raises reports.NoPolicy when no version of the policy was in force on `day`."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise LookupError(f"No organisation {organisation_id}")
    today = organisations.today_for(organisation, london_date(now)).today
    if day > today:
        raise ValueError("The report's day cannot be after today")
    scope = reports.scope_for(session, organisation_id, policy_key, day)
    more_memory_for_reports(session)
    # The report's own day: on today, the dashboard's statement (the records as they are).
    as_of = day < today
    current = _figures(session, organisation_id, policy_key, day, as_of=as_of, renewals=True)
    earlier_days = sorted(set(trend_days(day)[:-1]) | {day - timedelta(weeks=FORECAST_WEEKS)})
    earlier = _earlier(session, organisation, policy_key, earlier_days)
    earlier[day] = current
    start_day = period_start(day, period)
    start = earlier[start_day]
    before = earlier[day - timedelta(weeks=FORECAST_WEEKS)]
    everyone = lambda *_: True  # noqa: E731
    directorates = _directorates(current, start)
    target = organisation.report_target_percent

    def line(label: str, keep: Any) -> Line:
        return Line(label, current.where(keep), start.where(keep))

    def in_directorate(name: str) -> Any:
        return lambda directorate, *_: directorate == name

    return CommitteeReport(
        organisation=organisation.name,
        day=day,
        period=period,
        period_start=start_day,
        target_percent=target,
        overall=line("Everyone", everyone),
        by_directorate=[line(name, in_directorate(name)) for name in directorates],
        groups=[line(name, _group(name)) for name in GROUPS],
        councillors_not_completed=(
            reports.not_completed_councillors(session, scope, as_of=as_of)
            if organisation.report_councillor_names == "listed"
            else None
        ),
        trend=[
            TrendPoint(
                d,
                earlier[d].where(everyone),
                earlier[d].where(_group(GROUPS[2])),
                earlier[d].where(_group(GROUPS[3])),
            )
            for d in trend_days(day)
        ],
        forecasts=[
            forecast(label, current.where(keep), before.where(keep), day, target)
            for label, keep in [
                ("Everyone", everyone),
                *((name, in_directorate(name)) for name in _directorates(current)),
            ]
        ],
        renewals=_renewals(current),
        weakest=(weak := _weakest(session, scope, start_day, day))[0],
        questions_ranked=weak[1],
        methods=_methods(session, scope, now),
    )


def _renewals(day: _Day) -> list[Renewals]:
    lines = [Renewals(name, *day.renewals.get(name, (0, 0, 0))) for name in _directorates(day)]
    total = Renewals(
        "All directorates",
        sum(r.within_30 for r in lines),
        sum(r.within_60 for r in lines),
        sum(r.within_90 for r in lines),
    )
    return [*lines, total]


def _weakest(
    session: Session, scope: reports.Scope, start: date, day: date
) -> tuple[list[WeakQuestion], int]:
    """The current question bank's questions answered at least MIN_ANSWERS times in the
    period, lowest share correct first; and how many questions were ranked."""
    bank = current_bank(session, scope.version.policy_id)
    if bank is None:
        return [], 0
    answered = answered_correctly(
        session, scope.organisation.id, bank.id, end_of_day(start), end_of_day(day)
    )
    ranked = sorted(
        (
            WeakQuestion(q["id"], q["section"], q["stem"], *answered[q["id"]])
            for q in bank.questions
            if answered.get(q["id"], (0, 0))[0] >= MIN_ANSWERS
        ),
        key=lambda q: (q.share, -q.answered, q.question_id),
    )
    return ranked[:WEAKEST], len(ranked)


def _methods(session: Session, scope: reports.Scope, now: datetime) -> Methods:
    organisation = scope.organisation
    head = session.get(AuditHead, organisation.id)
    checkpoint = anchoring.anchor_status(session, organisation.id).latest_checkpoint
    return Methods(
        policy_version=scope.version.version,
        due_days=organisation.due_days,
        validity_months=organisation.validity_months,
        taken_at=now,
        audit_seq=head.seq if head else None,
        audit_hash=head.hash if head else None,
        checkpoint_at=checkpoint.taken_at if checkpoint else None,
        checkpoint_seq=checkpoint.seq if checkpoint else None,
    )


def methods_notes(report: CommitteeReport) -> list[str]:
    """The methods note, one paragraph each: for the PDF and the page alike."""
    m = report.methods
    return [
        "Completed means completed and in date: the person accepted the version of the "
        "policy in force, or an earlier version that still counts (no version since has "
        "asked everyone to accept again), and that acceptance is still in date (each lasts "
        f"{m.validity_months} months). It includes people whose renewal is due.",
        f"Overdue: not completed within {m.due_days} days of being asked to, and never "
        "completed on a version that counts. Expired: completed once, but that completion "
        "has run out and has not been renewed.",
        "People counted: staff and councillors on HR's roster or seen by the learning "
        "platform (LMS), including people whose records were anonymised after they left, on "
        "the days they were here. Leavers are not counted.",
        "Figures for earlier dates are worked out from today's records: what had been done "
        "by the end of each day (a paper declaration from the day it was signed), the "
        "version then in force, and the people then on the books. People are counted in the "
        "directorate, and as councillors or committee members, that the roster gives them "
        "today.",
        f"Policy version: {m.policy_version}, in force on {long_date(report.day)}.",
        f"Figures taken at {long_datetime(m.taken_at)} (London time).",
        (
            f"Audit trail: the figures were taken at its event {m.audit_seq}, hash "
            f"{m.audit_hash[:16]} (its first 16 hexadecimal characters)."
            if m.audit_seq is not None and m.audit_hash
            else "Audit trail: no events recorded yet."
        ),
        (
            f"Latest checkpoint of the audit trail written outside the database: event "
            f"{m.checkpoint_seq}, at {long_datetime(m.checkpoint_at)} (London time)."
            if m.checkpoint_at is not None
            else "Latest checkpoint of the audit trail written outside the database: none yet."
        ),
    ]
