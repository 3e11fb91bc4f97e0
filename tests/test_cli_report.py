"""`flask report committee` (the PDF to a file) and `flask report send` (the monthly e-mail),
through the real command line, on a real database, with a real SMTP server on loopback.

The schedule's days are reached by moving the tool's clock (the `travel` fixture) to noon,
London time, of the day under test."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskCliRunner
from pypdf import PdfReader
from sqlalchemy import select

from app.clock import LONDON, today
from app.db import db
from app.models import CommitteeReportSent, Organisation, Person
from tests.conftest import ORG, events
from tests.web.test_gunicorn import free_port
from tests.web.test_team import ROSTER, Inbox

CLERK = "clerk@test-borough.example"
OFFICER = "monitoring.officer@test-borough.example"


class Refusing(Inbox):
    """An SMTP server that refuses some recipients (550 at RCPT) and takes the rest, or
    refuses the whole message at DATA with `answer`."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()
        self.answer: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer:
            return self.answer
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def inbox(app: Flask) -> Iterator[Refusing]:
    box = Refusing()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM="cp@test-borough.example")
    yield box
    controller.stop()


@pytest.fixture
def council(app: Flask, registered: Any, runner: FlaskCliRunner, tmp_path: Path) -> None:
    """The organisation's roster (staff in two directorates), as a council would import it."""
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output


@pytest.fixture
def on(travel: Any) -> Any:
    """on(date(2027, 1, 10)): the tool's clock at noon, London time, of that day."""

    def go(day: date) -> None:
        travel(seconds=0)
        target = datetime.combine(day, time(12), LONDON)
        travel(seconds=(target - datetime.now(UTC)).total_seconds())
        assert today() == day

    return go


def configure(app: Flask, name: str = ORG, **values: Any) -> None:
    with app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == name)).one()
        for key, value in values.items():
            setattr(org, key, value)
        db.session.commit()


def sent_rows(app: Flask) -> list[CommitteeReportSent]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(CommitteeReportSent).order_by(CommitteeReportSent.id))
        )
        db.session.expunge_all()
        return rows


def pdf_of(msg: EmailMessage) -> bytes:
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    data = attachment.get_content()
    assert isinstance(data, bytes)
    return data


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def papers(tmp_path: Path) -> Path:
    """A folder of its own for the PDF: what else is in it is the command's doing."""
    folder = tmp_path / "papers"
    folder.mkdir()
    return folder


def send(runner: FlaskCliRunner, *args: str) -> Any:
    return runner.invoke(args=["report", "send", *args])


# -- report committee -------------------------------------------------------------------------


def test_committee_writes_the_pdf_and_records_it(
    app: Flask, council: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = papers(tmp_path) / "report.pdf"
    day = today()
    result = runner.invoke(
        args=["report", "committee", "--org", ORG, "--date", day.isoformat(), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out}: the report of {ORG} for ")
    assert ORG in text_of(out.read_bytes())
    assert [p.name for p in out.parent.iterdir()] == ["report.pdf"]  # no temporary file left
    [event] = events(app, "committee_report")
    assert event.actor == "cli"
    assert event.details == {
        "date": day.isoformat(),
        "period": "quarter",
        "councillors_named": False,
        "source": "cli",
    }


def test_committee_defaults_to_today_and_the_organisations_period(
    app: Flask, council: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    configure(app, report_period="year", report_councillor_names="listed")
    out = papers(tmp_path) / "report.pdf"
    result = runner.invoke(args=["report", "committee", "--org", ORG, "--out", str(out)])
    assert result.exit_code == 0, result.output
    [event] = events(app, "committee_report")
    assert event.details == {
        "date": today().isoformat(),
        "period": "year",
        "councillors_named": True,
        "source": "cli",
    }
    # --period wins over the setting.
    again = runner.invoke(
        args=[
            "report",
            "committee",
            "--org",
            ORG,
            "--period",
            "month",
            "--out",
            str(out),
            "--force",
        ]
    )
    assert again.exit_code == 0, again.output
    assert events(app, "committee_report")[-1].details["period"] == "month"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "No Such Council"], "No organisation called 'No Such Council'"),
        (["--org", ORG, "--date", "2999-01-01"], "2999-01-01 is in the future"),
        (["--org", ORG, "--date", "01/02/2026"], "Invalid value for '--date'"),
        (["--org", ORG, "--period", "week"], "Invalid value for '--period'"),
        (["--org", ORG, "--date", "2001-01-01"], "No version of the policy was in force on 2001"),
    ],
)
def test_committee_refuses_and_writes_nothing(
    app: Flask,
    council: None,
    runner: FlaskCliRunner,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    out = papers(tmp_path) / "report.pdf"
    result = runner.invoke(args=["report", "committee", *args, "--out", str(out)])
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists() and events(app, "committee_report") == []


def test_tomorrow_is_refused_and_today_is_not(
    app: Flask, council: None, runner: FlaskCliRunner, tmp_path: Path, on: Any
) -> None:
    on(date(2027, 3, 31))
    out = papers(tmp_path) / "report.pdf"
    late = runner.invoke(
        args=["report", "committee", "--org", ORG, "--date", "2027-04-01", "--out", str(out)]
    )
    assert late.exit_code != 0 and "2027-04-01 is in the future" in late.output
    ok = runner.invoke(
        args=["report", "committee", "--org", ORG, "--date", "2027-03-31", "--out", str(out)]
    )
    assert ok.exit_code == 0, ok.output


def test_committee_never_overwrites_a_file_without_force(
    app: Flask, council: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = papers(tmp_path) / "report.pdf"
    out.write_bytes(b"the clerk's own file")
    refused = runner.invoke(args=["report", "committee", "--org", ORG, "--out", str(out)])
    assert refused.exit_code != 0 and "exists" in refused.output and "--force" in refused.output
    assert out.read_bytes() == b"the clerk's own file"
    assert events(app, "committee_report") == []
    nowhere = runner.invoke(
        args=["report", "committee", "--org", ORG, "--out", str(out.parent / "no" / "r.pdf")]
    )
    assert nowhere.exit_code != 0 and "Cannot write in" in nowhere.output
    assert events(app, "committee_report") == []
    forced = runner.invoke(args=["report", "committee", "--org", ORG, "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes().startswith(b"%PDF-")
    assert [p.name for p in out.parent.iterdir()] == ["report.pdf"]


# -- report send ------------------------------------------------------------------------------


def test_the_report_goes_on_its_day_once_a_month(
    app: Flask, council: None, runner: FlaskCliRunner, inbox: Refusing, on: Any
) -> None:
    configure(app, report_day=10, report_recipients=f"{CLERK}, {OFFICER}")
    on(date(2027, 1, 9))  # the day before
    early = send(runner)
    assert early.exit_code == 0, early.output
    assert early.output == "Reports sent: 0; failed: 0.\n"
    assert inbox.messages == [] and sent_rows(app) == []

    on(date(2027, 1, 10))  # the day
    result = send(runner)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{ORG}: sent the report for 10 January 2027 (quarter) to 2 recipients.\n"
        "Reports sent: 1; failed: 0.\n"
    )
    [msg] = inbox.messages
    assert inbox.envelopes == [[CLERK, OFFICER]]
    assert msg["To"] == f"{CLERK}, {OFFICER}"
    # Folded onto a line of its own (over 78 characters): mail programs strip the space.
    subject = str(msg["Subject"]).strip()
    assert subject == f"Corporate Parenting Committee report, {ORG}, 10 January 2027"
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "at the end of 10 January 2027, compared with 10 October 2026" in text
    assert "names the councillors" not in text  # hidden by default
    pdf = pdf_of(msg)
    assert ORG in text_of(pdf)
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == (
        "corporate-parenting-report-test-borough-council-2027-01-10-quarter.pdf"
    )
    [row] = sent_rows(app)
    assert (row.month, row.report_date, row.period, row.recipients) == (
        "2027-01",
        date(2027, 1, 10),
        "quarter",
        f"{CLERK}, {OFFICER}",
    )
    assert row.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    [event] = events(app, "committee_report_sent")
    assert event.actor == "cli"
    assert event.details == {
        "month": "2027-01",
        "date": "2027-01-10",
        "period": "quarter",
        "recipients": [CLERK, OFFICER],
        "refused": [],
        "pdf_sha256": row.pdf_sha256,
        "councillors_named": False,
    }

    on(date(2027, 1, 11))  # the day after: sent already
    assert send(runner).output == "Reports sent: 0; failed: 0.\n"
    on(date(2027, 1, 31))
    assert send(runner).output == "Reports sent: 0; failed: 0.\n"
    assert len(inbox.messages) == 1

    on(date(2027, 2, 12))  # the 10th was missed: caught up, once
    assert "Reports sent: 1;" in send(runner).output
    on(date(2027, 2, 13))
    assert "Reports sent: 0;" in send(runner).output
    assert [r.month for r in sent_rows(app)] == ["2027-01", "2027-02"]
    assert len(inbox.messages) == 2


def test_day_28_in_february(
    app: Flask, council: None, runner: FlaskCliRunner, inbox: Refusing, on: Any
) -> None:
    configure(
        app,
        report_day=28,
        report_period="month",
        report_recipients=CLERK,
        report_councillor_names="listed",
    )
    on(date(2027, 2, 27))
    assert "Reports sent: 0;" in send(runner).output
    on(date(2027, 2, 28))  # the last day of a February
    result = send(runner)
    assert "sent the report for 28 February 2027 (month)" in result.output, result.output
    body = inbox.messages[0].get_body(("plain",))
    assert body is not None
    assert "compared with 28 January 2027, the start of the month before" in body.get_content()
    assert "The report names the councillors who have not completed" in body.get_content()
    assert events(app, "committee_report_sent")[0].details["councillors_named"] is True
    on(date(2027, 3, 1))  # March's day has not come
    assert "Reports sent: 0;" in send(runner).output
    assert [r.month for r in sent_rows(app)] == ["2027-02"]


@pytest.mark.parametrize(
    ("day", "recipients"),
    [(0, CLERK), (5, ""), (0, "")],
    ids=["no-day", "no-recipients", "neither"],
)
def test_nothing_is_sent_without_a_day_and_recipients(
    app: Flask,
    council: None,
    runner: FlaskCliRunner,
    inbox: Refusing,
    on: Any,
    day: int,
    recipients: str,
) -> None:
    # Set behind the settings' back: the job does not trust them to have been checked.
    configure(app, report_day=day, report_recipients=recipients)
    on(date(2027, 1, 28))
    result = send(runner)
    assert result.exit_code == 0 and result.output == "Reports sent: 0; failed: 0.\n"
    assert inbox.messages == [] and sent_rows(app) == []


@pytest.mark.parametrize(
    "answer",
    ["451 4.3.0 Mailbox temporarily unavailable", "550 5.7.1 Message refused"],
    ids=["451", "550"],
)
def test_a_refused_e_mail_records_nothing_and_is_tried_again(
    app: Flask,
    council: None,
    runner: FlaskCliRunner,
    inbox: Refusing,
    on: Any,
    answer: str,
) -> None:
    configure(app, report_day=3, report_recipients=f"{CLERK}, {OFFICER}")
    app.config.update(SMTP_PASSWORD="s3cret-smtp-password")
    on(date(2027, 1, 3))
    inbox.answer = answer
    failed = send(runner)
    assert failed.exit_code == 1
    assert "Reports sent: 0; failed: 1." in failed.output
    assert f"{ORG}: not sent, to be tried again: SMTPDataError: ({answer[:3]}, " in failed.output
    assert "s3cret" not in failed.output
    assert sent_rows(app) == [] and events(app, "committee_report_sent") == []
    inbox.answer = None
    on(date(2027, 1, 4))  # the next day's run
    again = send(runner)
    assert again.exit_code == 0, again.output
    assert len(inbox.messages) == 1 and [r.month for r in sent_rows(app)] == ["2027-01"]


def test_a_recipient_refused_while_the_others_took_it_is_not_sent_again(
    app: Flask, council: None, runner: FlaskCliRunner, inbox: Refusing, on: Any
) -> None:
    configure(app, report_day=3, report_recipients=f"{CLERK}, {OFFICER}")
    inbox.refused = {OFFICER}
    on(date(2027, 1, 3))
    result = send(runner)
    assert result.exit_code == 1
    assert f"{ORG}: sent, but refused for {OFFICER}" in result.output
    assert inbox.envelopes == [[CLERK]]
    [row] = sent_rows(app)
    assert row.recipients == CLERK
    [event] = events(app, "committee_report_sent")
    assert event.details["recipients"] == [CLERK] and event.details["refused"] == [OFFICER]
    on(date(2027, 1, 4))
    assert send(runner).output == "Reports sent: 0; failed: 0.\n"  # the clerk has it: once
    assert len(inbox.messages) == 1


def test_each_organisation_gets_its_own_report_only(
    app: Flask, council: None, runner: FlaskCliRunner, inbox: Refusing, on: Any
) -> None:
    north = "North Shire <Council>"
    with app.app_context():
        other = Organisation(name=north, report_day=1, report_recipients="clerk@north.example")
        db.session.add(other)
        db.session.flush()
        db.session.add(
            Person(
                organisation_id=other.id,
                name="Nia North",
                email="nia@north.example",
                directorate="Northern Services",
                assigned_on=date(2026, 11, 1),
            )
        )
        db.session.commit()
    configure(app, report_day=1, report_recipients=CLERK)
    on(date(2027, 1, 2))
    unknown = send(runner, "--org", "No Such Council")
    assert unknown.exit_code != 0 and "No organisation called 'No Such Council'" in unknown.output
    only_north = send(runner, "--org", north)
    assert only_north.exit_code == 0, only_north.output
    assert inbox.envelopes == [["clerk@north.example"]]
    result = send(runner)
    assert result.exit_code == 0, result.output
    assert inbox.envelopes == [["clerk@north.example"], [CLERK]]
    for msg, name, other in zip(inbox.messages, (north, ORG), (ORG, north), strict=True):
        text = text_of(pdf_of(msg))
        assert name in text and other not in text
        assert name in str(msg["Subject"])
    html_part = inbox.messages[0].get_body(("html",))
    assert html_part is not None
    assert "North Shire &lt;Council&gt;" in html_part.get_content()
    assert "<Council>" not in html_part.get_content()
    north_text, our_text = (text_of(pdf_of(m)) for m in inbox.messages)
    assert "Northern Services" in north_text and "Northern Services" not in our_text
    assert "Resources" in our_text and "Resources" not in north_text
    [north_file, ours] = [next(m.iter_attachments()).get_filename() for m in inbox.messages]
    assert north_file.startswith("corporate-parenting-report-north-shire-council-2027-01-02")
    assert ours.startswith("corporate-parenting-report-test-borough-council-2027-01-02")
    with app.app_context():
        by_org = dict(
            db.session.execute(
                select(Organisation.name, CommitteeReportSent.recipients).join(
                    CommitteeReportSent, CommitteeReportSent.organisation_id == Organisation.id
                )
            ).all()
        )
    assert by_org == {north: "clerk@north.example", ORG: CLERK}
