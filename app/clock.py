"""Time: stored in UTC, shown and reckoned in days in Europe/London (where councils work)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

# Moved only by tests that need months to pass (renewals, cool-downs, time limits).
_shift = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(UTC) + _shift


def travel(by: timedelta) -> None:
    """Move the application's clock (tests only: the tool never calls this)."""
    global _shift
    _shift = by


def london(moment: datetime) -> datetime:
    return moment.astimezone(LONDON)


def london_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def today() -> date:
    return london_date(utcnow())


def long_date(day: date | datetime | None) -> str:
    """GOV.UK style: 1 April 2026 (times are shown in London)."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = london_date(day)
    return f"{day.day} {day:%B %Y}"


def long_datetime(moment: datetime | None) -> str:
    """1 April 2026 at 2:05pm, London time."""
    if moment is None:
        return ""
    local = london(moment)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"
