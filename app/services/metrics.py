"""What the tool counts for the people who run it, and what it reads from the database at
each scrape (README, "Metrics and logs"). The web side is app/metrics.py.

Counters and histograms live here, once per process. Under gunicorn each worker writes its
own to files in PROMETHEUS_MULTIPROC_DIR (set before prometheus_client is imported, by
gunicorn.conf.py) and a scrape adds them up; every label value comes from a fixed set, never
from a request, so nobody outside can make the series multiply.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Reminder, ScoreOutbox

REGISTRY = CollectorRegistry(auto_describe=True)

LAUNCHES = Counter(
    "cpm_lti_launches",
    "LTI launches accepted (a person or a course editor let in).",
    registry=REGISTRY,
)
REFUSALS = Counter(
    "cpm_lti_refusals",
    "LTI logins, launches and deep-link answers refused, by stage and refusal code"
    " (lti/errors.py).",
    ["stage", "code"],
    registry=REGISTRY,
)
EMAIL_FAILURES = Counter(
    "cpm_email_failures",
    "E-mails the SMTP server did not take (each try; reminders are tried again).",
    registry=REGISTRY,
)
# Pages take tens of milliseconds; exports and roster imports take seconds.
REQUEST_SECONDS = Histogram(
    "cpm_http_request_duration_seconds",
    "Time to answer a request, by route (the URL rule, not the path), method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """A request's method as a label: any other word a client sends is "other"."""
    return method if method in METHODS else "other"


def status_label(status: int) -> str:
    return f"{status // 100}xx"


class DatabaseCollector(Collector):
    """Scores waiting in the outbox and reminders not delivered, read at scrape time.

    Two small aggregate queries; the tables hold a row per acceptance and placement, and
    per reminder, so a scrape reads them whole, well under the time of a page at 100,000
    people (README)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "cpm_score_outbox_waiting",
            "Scores not yet taken by the LMS: being sent (state=sending) or refused by the"
            " LMS and waiting for HR to send them again (state=refused).",
            labels=["state"],
        )
        oldest = GaugeMetricFamily(
            "cpm_score_outbox_oldest_waiting_seconds",
            "Age of the oldest score not yet taken by the LMS (0 when none waits).",
            labels=["state"],
        )
        refused = ScoreOutbox.refused_at.is_not(None)  # no bound value: the same in GROUP BY
        found = {
            bool(is_refused): (count, first)
            for is_refused, count, first in self.session.execute(
                select(refused, func.count(), func.min(ScoreOutbox.created_at))
                .where(ScoreOutbox.sent_at.is_(None))
                .group_by(refused)
            )
        }
        for state, is_refused in (("sending", False), ("refused", True)):
            count, first = found.get(is_refused, (0, None))
            waiting.add_metric([state], count)
            age = (self.now - first).total_seconds() if first is not None else 0.0
            oldest.add_metric([state], max(age, 0.0))
        yield waiting
        yield oldest

        reminders = GaugeMetricFamily(
            "cpm_reminders_undelivered",
            "Reminder e-mails the SMTP server did not take: to be tried again (retrying) or"
            " given up after the last try (failed).",
            labels=["outcome"],
        )
        counts: dict[str, int] = {
            outcome: count
            for outcome, count in self.session.execute(
                select(Reminder.outcome, func.count())
                .where(Reminder.outcome.in_(("retrying", "failed")))
                .group_by(Reminder.outcome)
            )
        }
        for outcome in ("retrying", "failed"):
            reminders.add_metric([outcome], counts.get(outcome, 0))
        yield reminders
