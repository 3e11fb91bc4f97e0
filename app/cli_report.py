"""`flask --app app report ...`: the Corporate Parenting Committee's report as a PDF file, and
the daily job that e-mails each organisation's report on its day of the month (the schedule's
rules are in services/committee_send.py)."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import click
from flask import current_app, render_template
from flask.cli import AppGroup

from app.clock import long_date, today, utcnow
from app.db import db
from app.models import Organisation
from app.services import audit, committee, committee_send, jobs, organisations, reports
from app.services.committee import CommitteeReport
from app.services.mail import Mailer, MailError, SmtpSettings, message

log = logging.getLogger(__name__)

report_cli = AppGroup("report", help="The Corporate Parenting Committee's report.")


@report_cli.command("committee")
@click.option("--org", "organisation", required=True, help="The organisation's name.")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The figures as at the end of this day, YYYY-MM-DD (default: today, UK time).",
)
@click.option(
    "--period",
    type=click.Choice(committee.PERIODS),
    default=None,
    help="Compared with the start of this period (default: the organisation's setting).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PDF file to write.",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
def committee_command(
    organisation: str, day: datetime | None, period: str | None, out: Path, force: bool
) -> None:
    """Write the committee report as a PDF. Recorded in the audit trail."""
    from app.services import committee_pdf  # matplotlib: loaded by the commands that draw

    session = db.session()
    try:
        org = organisations.find(session, organisation)
    except organisations.SettingError as exc:
        raise click.ClickException(str(exc)) from exc
    on = day.date() if day else today()
    if on > today():
        raise click.ClickException(
            f"{on.isoformat()} is in the future: the report counts what has happened."
        )
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists. Choose another name, or add --force.")
    now = utcnow()
    try:
        report = committee.build(
            session, org.id, current_app.config["POLICY_KEY"], on, period or org.report_period, now
        )
    except reports.NoPolicy as exc:
        raise click.ClickException(
            f"No version of the policy was in force on {on.isoformat()}: there are no figures."
        ) from exc
    _write(out, committee_pdf.render(report), force)
    audit.record(
        session,
        org.id,
        "committee_report",
        now,
        actor="cli",
        details={
            "date": report.day.isoformat(),
            "period": report.period,
            "councillors_named": report.councillors_not_completed is not None,
            "source": "cli",
        },
    )
    session.commit()
    click.echo(
        f"Wrote {out}: the report of {org.name} for {long_date(report.day)}, compared with "
        f"{long_date(report.period_start)}."
    )


def _write(out: Path, data: bytes, force: bool) -> None:
    """Whole or not at all: written beside `out` under another name, then moved into place,
    so that no one (and no copy job) sees half a PDF. Without force, an existing file is
    left alone, even one that appeared while the report was being built."""
    folder = out.parent
    try:
        handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".part")
    except OSError as exc:
        raise click.ClickException(f"Cannot write in {folder}: {exc.strerror}") from exc
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if force:
            os.replace(temp, out)
        else:
            try:
                os.link(temp, out)  # fails if out exists: no window to overwrite it
            except FileExistsError as exc:
                raise click.ClickException(
                    f"{out} exists. Choose another name, or add --force."
                ) from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


@report_cli.command("send")
@click.option("--org", "organisation", default=None, help="One organisation (default: all).")
def send_command(organisation: str | None) -> None:
    """Send each organisation's report to its recipients on its day of the month, once a
    month (run from cron daily; a missed day is caught up later that month). An e-mail the
    mail server did not take is tried again on the next run."""
    from app.manager.emails import smtp_settings
    from app.services import committee_pdf  # matplotlib: loaded by the commands that draw

    session = db.session()
    organisation_id = None
    if organisation:
        try:
            organisation_id = organisations.find(session, organisation).id
        except organisations.SettingError as exc:
            raise click.ClickException(str(exc)) from exc
    day, now = today(), utcnow()
    candidates = [o.id for o in committee_send.due(session, day, organisation_id)]
    session.rollback()
    settings = smtp_settings()
    failures: list[str] = []
    sent = 0
    for org_id in candidates:
        # A run started at the same moment on another machine waits here until this one
        # has sent and recorded the report, then finds it sent.
        jobs.run_alone(session, "report send", org_id)
        org = session.get(Organisation, org_id)
        if org is None or not committee_send.is_due(session, org, day):
            session.rollback()
            continue
        recipients = committee_send.recipients_of(org)
        try:
            report = committee.build(
                session, org.id, current_app.config["POLICY_KEY"], day, org.report_period, now
            )
            pdf = committee_pdf.render(report)
        except Exception as exc:  # one organisation's failure must not stop the others'
            log.exception("committee report of organisation %s", org.id)
            session.rollback()
            failures.append(f"{org.name}: the report could not be made ({exc.__class__.__name__})")
            continue
        refused: tuple[str, ...] = ()
        try:
            # A connection of its own: building a report can outlast the server's patience.
            with Mailer(settings) as mailer:
                mailer.send(_message(settings, org, report, recipients, pdf))
        except MailError as exc:
            if not exc.refused or set(exc.refused) >= set(recipients):
                session.rollback()
                failures.append(f"{org.name}: not sent, to be tried again: {exc}")
                continue
            # The server took it for the others: it has gone, and must not go again.
            refused = exc.refused
            failures.append(f"{org.name}: sent, but refused for {', '.join(refused)}")
        committee_send.record_sent(
            session,
            org,
            day,
            report.period,
            [r for r in recipients if r not in refused],
            pdf,
            now,
            councillors_named=report.councillors_not_completed is not None,
            refused=refused,
        )
        session.commit()
        sent += 1
        click.echo(
            f"{org.name}: sent the report for {long_date(day)} ({report.period}) to "
            f"{len(recipients) - len(refused)} recipients."
        )
    click.echo(f"Reports sent: {sent}; failed: {len(failures)}.")
    if failures:
        raise click.ClickException("\n".join(failures))


PERIOD_WORDS = {"quarter": "quarter", "month": "month", "year": "year"}


def file_name(org: Organisation, report: CommitteeReport) -> str:
    """The attachment's name: the organisation's in plain letters (it is a header's value),
    the day and the period."""
    slug = re.sub(r"[^a-z0-9]+", "-", org.name.lower()).strip("-")[:60] or "council"
    return f"corporate-parenting-report-{slug}-{report.day.isoformat()}-{report.period}.pdf"


def _message(
    settings: SmtpSettings,
    org: Organisation,
    report: CommitteeReport,
    recipients: list[str],
    pdf: bytes,
) -> EmailMessage:
    """One message to all the recipients (To: each of them): they are the council's own
    officers and members, who may see who else receives the report, and one message is
    taken or refused by the mail server as a whole, so that it goes once, or again later."""
    context = {
        "organisation": org.name,
        "day": long_date(report.day),
        "start": long_date(report.period_start),
        "period": PERIOD_WORDS[report.period],
        "report_day": org.report_day,
        "file_name": file_name(org, report),
        "names_listed": report.councillors_not_completed is not None,
    }
    msg = message(
        settings,
        ", ".join(recipients),
        render_template("email/committee_report_subject.txt", **context).strip(),
        render_template("email/committee_report.txt", **context),
        render_template("email/committee_report.html", **context),
    )
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=context["file_name"])
    return msg
