"""The Corporate Parenting Committee's report: completion now and at the start of a period,
by directorate and for councillors and staff, a year's trend and a forecast, renewals
coming up, the quiz's weakest questions, and how the figures were taken.

Every figure comes from status.status_query, the one definition of the states: "now" is
counted by the same statement as HR's dashboard (reports._people); an earlier day by its
"as of" form, which keeps only the records made by the end of that day. This module builds
the figures; committee_pdf.py and the HR page (hr/report.html) lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

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
