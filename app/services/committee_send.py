"""The committee report's monthly schedule: which organisations are due it, and the record
that it went (a CommitteeReportSent row and an audit event), so that it goes once a month.

An organisation is due on or after its day of the month (report_day, 1..28; 0 is never)
while no report has gone for that month: a day the job did not run is caught up the next
time it runs that month, and only once. The command (cli_report.py) takes the job's lock,
asks again, builds, renders and e-mails the report, then records it here; it records
nothing when the e-mail was not taken, so that the next run tries again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CommitteeReportSent, Organisation
from app.services import audit


def month_of(day: date) -> str:
    """The month a report is counted in (London's calendar), as stored: YYYY-MM."""
    return f"{day:%Y-%m}"


def recipients_of(org: Organisation) -> list[str]:
    """The addresses as settings.py keeps them ("a@x.example, b@y.example")."""
    return [a.strip() for a in org.report_recipients.split(",") if a.strip()]


def sent_for(session: Session, organisation_id: int, day: date) -> CommitteeReportSent | None:
    """The record of the report sent in day's month, if one went."""
    return session.scalars(
        select(CommitteeReportSent).where(
            CommitteeReportSent.organisation_id == organisation_id,
            CommitteeReportSent.month == month_of(day),
        )
    ).first()


def is_due(session: Session, org: Organisation, day: date) -> bool:
    """On day (London), the organisation's report is due: its day has come this month, it
    has someone to send it to, and none has gone this month (the rule of due())."""
    return bool(due(session, day, org.id))


def due(session: Session, day: date, organisation_id: int | None = None) -> list[Organisation]:
    """The organisations whose report is due on day, by id (or just the one asked for)."""
    already = select(CommitteeReportSent.organisation_id).where(
        CommitteeReportSent.month == month_of(day)
    )
    query = (
        select(Organisation)
        .where(
            Organisation.report_day > 0,
            Organisation.report_day <= day.day,
            Organisation.report_recipients != "",
            Organisation.id.not_in(already),
        )
        .order_by(Organisation.id)
    )
    if organisation_id is not None:
        query = query.where(Organisation.id == organisation_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Sent:
    row: CommitteeReportSent
    refused: tuple[str, ...]  # recipients the mail server refused while taking the others


def record_sent(
    session: Session,
    org: Organisation,
    day: date,
    period: str,
    recipients: Sequence[str],
    pdf: bytes,
    now: datetime,
    *,
    councillors_named: bool,
    refused: Sequence[str] = (),
) -> Sent:
    """That the report for day went to recipients (less any refused), with the PDF's hash:
    what was sent can be matched to a copy later. The caller commits."""
    row = CommitteeReportSent(
        organisation_id=org.id,
        month=month_of(day),
        report_date=day,
        period=period,
        recipients=", ".join(recipients),
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        sent_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        org.id,
        "committee_report_sent",
        now,
        actor="cli",
        details={
            "month": row.month,
            "date": day.isoformat(),
            "period": period,
            "recipients": list(recipients),
            "refused": list(refused),
            "pdf_sha256": row.pdf_sha256,
            "councillors_named": councillors_named,
        },
    )
    return Sent(row, tuple(refused))
