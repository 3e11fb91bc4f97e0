"""Managers' team view and reminder e-mails, delivered to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.clock import long_date, today
from app.db import db
from app.models import AuditEvent, Organisation, Person, Reminder
from scripts.demo_lms.platform import DemoPlatform
from tests.learner_flow import answers, attempt_id, csrf, read_all, start_quiz, submit
from tests.web.test_gunicorn import free_port

ORG = "Test Borough Council"
D = "demo-council.example"
# Employee IDs as the demo LMS's ID numbers (lis_person_sourcedid), by which launches join
# the roster under the default rule.
ROSTER = (
    "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date\n"
    f"E1010,Rachel,Green,rachel.green@{D},Place,Office,,01/01/2014\n"
    f"E1003,Tom,Price,tom.price@{D},Place,Housing,E1010,01/03/2015\n"
    f"E1001,Aisha,Khan,aisha.khan@{D},Place,Housing,E1003,04/01/2021\n"
    f"E1002,Lee,Morgan,lee.morgan@{D},Place,Planning,E1003,12/09/2022\n"
    f"E1005,Sam,Wilson,sam.wilson@{D},Place,Housing,E1003,02/11/2026\n"
    f"E1006,Zed,Young,zed.young@{D},Place,Planning,E1002,01/01/2020\n"
    f"E1007,Dan,Hughes,dan.hughes@{D},Place,Waste,E1010,20/02/2012\n"
    f"E1004,Priya,Shah,priya.shah@{D},Resources,HR,E1010,15/06/2018\n"
)


class Inbox:
    """A real SMTP server on loopback that keeps what it receives (or refuses it)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 Mailbox temporarily unavailable"
        self.envelopes.append(list(envelope.rcpt_tos))
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM=f"cp@{D}")
    yield box
    controller.stop()


@pytest.fixture
def council(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> dict[str, Person]:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output
    return people(app)


def people(app: Flask) -> dict[str, Person]:
    with app.app_context():
        found = {p.employee_id: p for p in db.session.scalars(select(Person))}
        db.session.expunge_all()
        return found


def names_on(page: str) -> set[str]:
    everyone = {"Rachel", "Tom", "Aisha", "Lee", "Sam", "Zed", "Dan", "Priya"}
    return {n for n in everyone if f"{n} " in page}


def check(client: FlaskClient, *people: int, everyone: bool = False) -> str:
    """The check page for reminding these people (or everyone overdue): its HTML."""
    query: dict[str, Any] = {"person": list(people)}
    if everyone:
        query["everyone_overdue"] = "1"
    response = client.get("/team/remind", query_string=query)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def send(client: FlaskClient, page: str) -> Any:
    """Press the check page's send button: its form as the browser would post it."""
    data: dict[str, Any] = {
        "csrf_token": csrf(page),
        "person": re.findall(r'name="person" value="(\d+)"', page),
    }
    if 'name="everyone_overdue"' in page:
        data["everyone_overdue"] = "1"
    return client.post("/team/remind", data=data)


def remind(client: FlaskClient, *people: int) -> str:
    """Check, send, and follow the redirect: the results page's HTML."""
    response = send(client, check(client, *people))
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"].startswith("/team/reminded?at=")
    return client.get(response.headers["Location"]).get_data(as_text=True)


def token(client: FlaskClient, someone: int) -> str:
    """A CSRF token, from the check page for reminding someone in the team."""
    return csrf(check(client, someone))


def test_a_manager_sees_direct_reports_or_the_whole_tree_and_nobody_else(
    council: dict[str, Person], launched: Any
) -> None:
    tom = launched("u-tom")
    direct = tom.get("/team/").get_data(as_text=True)
    assert names_on(direct) >= {"Aisha", "Lee", "Sam"}
    assert not names_on(direct) & {"Zed", "Dan", "Priya", "Rachel"}
    tree = tom.get("/team/?tree=1").get_data(as_text=True)
    assert "Zed" in names_on(tree)  # Lee's report
    assert not names_on(tree) & {"Dan", "Priya", "Rachel"}
    assert "Your team" in direct  # in the service navigation
    assert launched("u-aisha").get("/team/").status_code == 403
    # HR's list of everyone is HR's People page (tests/web/test_hr_dashboard.py).
    hr = launched("u-priya").get("/team/?status=not_started&overdue=1")
    assert hr.status_code == 302
    assert hr.location == "/hr/people?status=not_started&overdue=y"


def test_the_team_csv_has_only_the_team_and_is_audited(
    app: Flask, council: dict[str, Person], launched: Any
) -> None:
    response = launched("u-tom").get("/team/team.csv?tree=1")
    csv = response.get_data(as_text=True)
    assert "Employee ID" in csv.splitlines()[0]
    assert "Zed" in csv and "Aisha" in csv and "Dan" not in csv and "Rachel" not in csv
    assert "corporate-parenting-team-" in response.headers["Content-Disposition"]
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
        assert event.actor_person_id == council["E1003"].id  # Tom
        assert event.details["rows"] == len(csv.splitlines()) - 1
        assert event.details["team"] == "whole tree"


def test_reminders_reach_the_person_with_due_date_and_link_and_are_recorded(
    app: Flask, council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    tom = launched("u-tom")
    lee = council["E1002"]
    html = remind(tom, lee.id)
    assert "Sent (1)" in html and f"Lee Morgan (lee.morgan@{D})" in html
    [message] = inbox.to(f"lee.morgan@{D}")
    text = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    assert "Dear Lee Morgan" in text and "mandatory Corporate Parenting module by" in text
    assert "Test Borough Council" in text
    # No LMS address set: the way in is said in words, with no link at all.
    assert "Open the Corporate Parenting module in Test Borough Council's learning portal" in text
    assert "href" not in rich
    with app.app_context():
        [row] = db.session.scalars(select(Reminder)).all()
        assert (row.kind, row.outcome, row.person_id) == ("manual", "sent", lee.id)
        assert row.sent_by_person_id is not None
    assert "Never" in tom.get("/team/").get_data(as_text=True)  # the others
    day = today()  # the clock is not moved in this test
    again = check(tom, lee.id)
    assert (
        f"Lee Morgan was reminded on {long_date(day)}. You can remind them again from "
        f"{long_date(day + timedelta(days=5))}."
    ) in again
    assert "Send the reminder" not in again and "Nobody to remind" in again
    assert len(inbox.to(f"lee.morgan@{D}")) == 1


def all_of(message: email.message.EmailMessage) -> str:
    """Everything a recipient gets: headers, plain text and HTML."""
    parts = [str(value) for _, value in message.items()]
    parts += [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
    return "\n".join(parts)


@pytest.fixture
def moodle_like(registered: DemoPlatform) -> Iterator[DemoPlatform]:
    """Launches whose return URL carries the launcher's own sesskey, as Moodle's do."""
    registered.sesskey_in_return_url = True
    yield registered
    registered.sesskey_in_return_url = False
    registered.sesskeys.clear()


def test_reminders_never_carry_a_launchers_return_url_or_session_key(
    council: dict[str, Person],
    moodle_like: DemoPlatform,
    launched: Any,
    runner: FlaskCliRunner,
    inbox: Inbox,
    travel: Any,
) -> None:
    launched("u-aisha")
    tom = launched("u-tom")  # the latest launch of the organisation is a manager's
    secrets_given = set(moodle_like.sesskeys.values())
    assert len(secrets_given) == 2
    remind(tom, council["E1002"].id, council["E1005"].id)
    runner.invoke(args=["reminders", "run"])  # scheduled ones, to everyone
    travel(days=40)
    runner.invoke(args=["reminders", "run"])  # overdue reminders and managers' digests
    assert len(inbox.messages) > 10
    assert any("Your team" in str(m["Subject"]) for m in inbox.messages)
    for message in inbox.messages:
        content = all_of(message)
        assert not any(key in content for key in secrets_given), message["To"]
        assert "sesskey" not in content and "return.php" not in content
        assert moodle_like.issuer not in content  # no LMS address HR did not give


def test_reminders_link_to_the_lms_address_hr_set(
    council: dict[str, Person],
    moodle_like: DemoPlatform,
    launched: Any,
    runner: FlaskCliRunner,
    inbox: Inbox,
) -> None:
    address = "https://learning.test-borough.gov.uk/mod/lti/view.php?id=42"
    result = runner.invoke(args=["org", "set", "--org", ORG, "lms_url", address])
    assert result.exit_code == 0, result.output
    tom = launched("u-tom")
    assert f"Open the module: {address}" in check(tom, council["E1002"].id)
    remind(tom, council["E1002"].id)
    [message] = inbox.to(f"lee.morgan@{D}")
    assert f"Open the module: {address}" in message.get_body(("plain",)).get_content()
    assert f'href="{address}"' in message.get_body(("html",)).get_content()
    assert not any(key in all_of(message) for key in moodle_like.sesskeys.values())


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://learning.example.gov.uk/", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("https://", "must start with https://"),
        ("learning.example.gov.uk", "must start with https://"),
        ("https://admin:pw@learning.example.gov.uk/", "user name or password"),
        ("https://learning.example.gov.uk/mod/lti/return.php?sesskey=abc", "sesskey="),
        ("https://learning.example.gov.uk/course?id=2&token=abc", "token="),
        ("https://learning.example.gov.uk/#access_token=abc", "access_token="),
        ("https://learning.example.gov.uk/a b", "spaces"),
        ("https://learning.example.gov.uk:port/", "web address"),
        ("https://learning.example.gov.uk/" + "a" * 470, "500 characters"),
    ],
)
def test_the_lms_address_must_be_plain_https(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, value: str, problem: str
) -> None:
    result = runner.invoke(args=["org", "set", "--org", ORG, "lms_url", value])
    assert result.exit_code != 0 and problem in result.output, result.output


def test_hr_sets_the_lms_address_on_the_settings_page(
    council: dict[str, Person], launched: Any, runner: FlaskCliRunner
) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    assert 'name="lms_url"' in page
    form = {
        "csrf_token": csrf(page),
        "validity_months": "12",
        "renewal_window_days": "30",
        "renewal_basis": "expiry",
        "due_from": "assignment",
        "due_days": "28",
        "retention_years": "6",
        "retention_years_childrens": "25",
        "roster_join": "sourcedid",
        "report_target_percent": "95",
        "report_councillor_names": "hidden",
        "report_day": "0",
        "report_period": "quarter",
    }
    bad = hr.post("/hr/settings", data={**form, "lms_url": "https://x.example/?sesskey=1"})
    # A refused save redirects (PRG) and the next page shows the error and what was typed.
    assert bad.status_code == 302
    shown_again = hr.get(bad.headers["Location"]).get_data(as_text=True)
    assert "govuk-error-summary" in shown_again and "sesskey=" in shown_again
    good = "https://learning.test-borough.gov.uk/course/view.php?id=7"
    assert hr.post("/hr/settings", data={**form, "lms_url": good}).status_code == 302
    shown = runner.invoke(args=["org", "show", "--org", ORG]).output
    assert good in shown
    assert good in hr.get("/hr/settings").get_data(as_text=True)


def test_a_manager_cannot_remind_anyone_outside_their_tree(
    council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    tom = launched("u-tom")
    dan = council["E1007"].id
    assert tom.get("/team/remind", query_string={"person": dan}).status_code == 403
    response = tom.post(
        "/team/remind", data={"csrf_token": token(tom, council["E1002"].id), "person": [dan]}
    )
    assert response.status_code == 403
    assert inbox.messages == []


def test_remind_everyone_overdue(
    council: dict[str, Person], launched: Any, inbox: Inbox, travel: Any
) -> None:
    travel(days=40)  # past everyone's due date (28 days from assignment)
    tom = launched("u-tom")
    page = tom.get("/team/?overdue=1").get_data(as_text=True)
    assert "Overdue" in page and "Remind everyone who is overdue (3)" in page
    checked = check(tom, everyone=True)
    assert "It will go to 3 people" in checked
    # A box ticked beside the button does not narrow "everyone who is overdue".
    assert "It will go to 3 people" in check(tom, council["E1001"].id, everyone=True)
    due = long_date(today() - timedelta(days=40 - 28))
    assert f"Corporate Parenting module: it was due on {due}." in checked
    assert send(tom, checked).status_code == 302
    assert {str(m["To"]) for m in inbox.messages} == {
        f"aisha.khan@{D}",
        f"lee.morgan@{D}",
        f"sam.wilson@{D}",
    }


def test_scheduled_reminders_are_sent_once_however_often_the_job_runs(
    app: Flask, council: dict[str, Person], runner: FlaskCliRunner, inbox: Inbox, travel: Any
) -> None:
    first = runner.invoke(args=["reminders", "run"])
    assert first.exit_code == 0, first.output
    assigned = {str(m["To"]) for m in inbox.messages}
    assert f"aisha.khan@{D}" in assigned and len(assigned) == 8
    runner.invoke(args=["reminders", "run"])
    assert len(inbox.messages) == 8  # nothing twice
    travel(days=40)
    runner.invoke(args=["reminders", "run"])
    overdue = [m for m in inbox.messages[8:] if "Overdue" in str(m["Subject"])]
    assert len(overdue) == 8
    digests = [m for m in inbox.messages if "Your team" in str(m["Subject"])]
    tom_digest = next(m for m in digests if str(m["To"]) == f"tom.price@{D}")
    body = tom_digest.get_body(("plain",)).get_content()
    assert "Aisha Khan" in body and "Dan Hughes" not in body
    count = len(inbox.messages)
    runner.invoke(args=["reminders", "run"])
    assert len(inbox.messages) == count
    travel(days=47)  # a week later: overdue people are reminded weekly
    runner.invoke(args=["reminders", "run"])
    assert len(inbox.messages) > count


def test_a_failed_send_is_retried_and_reported_never_dropped(
    app: Flask,
    council: dict[str, Person],
    launched: Any,
    runner: FlaskCliRunner,
    inbox: Inbox,
    travel: Any,
) -> None:
    inbox.refuse = True
    tom = launched("u-tom")
    html = remind(tom, council["E1001"].id)
    assert "Not sent yet (1)" in html and "451" in html
    with app.app_context():
        row = db.session.scalars(select(Reminder).where(Reminder.kind == "manual")).one()
        assert row.outcome == "retrying" and row.tries == 1
    inbox.refuse = False
    travel(minutes=10)
    runner.invoke(args=["reminders", "run"])
    with app.app_context():
        row = db.session.scalars(select(Reminder).where(Reminder.kind == "manual")).one()
        assert row.outcome == "sent" and row.tries == 2
    assert len(inbox.to(f"aisha.khan@{D}")) >= 1


def test_two_deliveries_at_once_send_each_reminder_once(
    app: Flask,
    make_app: Any,
    council: dict[str, Person],
    runner: FlaskCliRunner,
    inbox: Inbox,
    travel: Any,
) -> None:
    """Two processes' deliveries (two machines' `reminders run`, a manager's send) find the
    same waiting reminders at the same moment, and the mail server is slow: each reminder
    still goes once, on SQLite as on PostgreSQL."""
    from app.clock import utcnow
    from app.manager.emails import smtp_settings
    from app.services import reminders
    from app.services.mail import Mailer

    inbox.refuse = True
    runner.invoke(args=["reminders", "run"])  # recorded, not sent: waiting to be retried
    assert inbox.messages == [] and len(reminders_of(app)) == 8
    inbox.refuse = False
    travel(minutes=10)
    mail = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT", "MAIL_FROM")}
    together = threading.Barrier(2)
    results: list[reminders.Delivered] = []

    class SlowMailer(Mailer):
        def send(self, msg: Any) -> None:
            time.sleep(0.2)
            super().send(msg)

    def deliver_in(process: Flask) -> None:
        with process.app_context(), SlowMailer(smtp_settings()) as mailer:
            together.wait()
            results.append(reminders.deliver(db.session(), mailer, utcnow()))

    threads = [threading.Thread(target=deliver_in, args=(make_app(**mail),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.sent for r in results) == 8 and sum(r.failed for r in results) == 0
    assert len(inbox.messages) == 8
    assert len({str(m["To"]) for m in inbox.messages}) == 8  # each person once
    assert all(r.outcome == "sent" and r.tries == 2 for r in reminders_of(app))


def reminders_of(app: Flask) -> list[Reminder]:
    with app.app_context():
        found = list(db.session.scalars(select(Reminder).order_by(Reminder.id)))
        db.session.expunge_all()
        return found


def test_the_manager_hears_when_someone_uses_all_quiz_attempts(
    app: Flask,
    council: dict[str, Person],
    launched: Any,
    runner: FlaskCliRunner,
    inbox: Inbox,
) -> None:
    aisha: FlaskClient = launched("u-aisha")
    read_all(aisha)
    for _ in range(3):
        action, page = start_quiz(aisha)
        submit(aisha, action, page, answers(app, attempt_id(action), right=2))
    runner.invoke(args=["reminders", "run"])
    notices = [m for m in inbox.to(f"tom.price@{D}") if "attempts used" in str(m["Subject"])]
    assert len(notices) == 1
    assert "Aisha Khan has used all 3 attempts" in notices[0].get_body(("plain",)).get_content()
    runner.invoke(args=["reminders", "run"])
    assert len([m for m in inbox.to(f"tom.price@{D}") if "attempts used" in str(m["Subject"])]) == 1


def test_an_lms_mentor_sees_their_mentees(
    app: Flask, council: dict[str, Person], registered: DemoPlatform, http: Any
) -> None:
    from tests.conftest import tool_client
    from tests.lti_flow import Flow

    mentor_role = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"
    client = tool_client(app)
    flow = Flow(client, registered, http)
    launched_aisha = Flow(tool_client(app), registered, http)
    launched_aisha.launch_as("u-aisha")  # the mentee is known to the tool by her LMS id

    def as_mentor(claims: dict[str, Any]) -> None:
        claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [mentor_role]
        claims["https://purl.imsglobal.org/spec/lti/claim/role_scope_mentor"] = ["u-aisha"]

    response, _ = flow.forged("u-jo", as_mentor)
    assert response.status_code == 200  # the launch answers with the first page
    page = client.get("/team/").get_data(as_text=True)
    assert names_on(page) == {"Aisha"}


@pytest.mark.parametrize("person", ["2147483648", "0", "-3", "99999999999999999999"])
def test_hr_reminding_an_id_no_row_can_have_is_refused(
    council: dict[str, Person], launched: Any, inbox: Inbox, person: str
) -> None:
    """HR has no team to check the chosen ids against, so an id past the 32-bit columns
    reached PostgreSQL ("integer out of range": a 500)."""
    hr = launched("u-priya")
    response = hr.post(
        "/team/remind", data={"csrf_token": token(hr, council["E1001"].id), "person": [person]}
    )
    assert response.status_code == 400
    assert "The people chosen could not be read." in response.get_data(as_text=True)
    assert inbox.messages == []


def test_hr_reminding_the_largest_id_finds_nobody(
    council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    hr = launched("u-priya")
    response = hr.post(
        "/team/remind",
        data={"csrf_token": token(hr, council["E1001"].id), "person": ["2147483647"]},
    )
    # HR's reminders lead back to the one list of people, which says why nobody was reminded.
    assert response.status_code == 302 and response.headers["Location"] == "/hr/people"
    shown = hr.get("/hr/people").get_data(as_text=True)
    assert "the people chosen have completed the module" in shown
    assert inbox.messages == []


def test_nobody_overdue_offers_no_button_and_names_the_first_due_date(
    council: dict[str, Person], launched: Any, travel: Any
) -> None:
    """Everyone was assigned on the import, so all are due in 28 days: on the due date
    itself nobody is overdue; the day after, all three of Tom's reports are."""
    due = today() + timedelta(days=28)
    tom = launched("u-tom")
    page = tom.get("/team/").get_data(as_text=True)
    assert f"Nobody in your team is overdue; the first due date is {long_date(due)}." in page
    assert "Remind everyone who is overdue" not in page
    assert "Remind the people ticked" in page
    everyone = launched("u-priya").get("/hr/people").get_data(as_text=True)  # HR's one list
    assert "Remind everyone who is overdue" not in everyone
    travel(days=28)
    on_the_day = launched("u-tom").get("/team/").get_data(as_text=True)
    assert "Remind everyone who is overdue" not in on_the_day
    assert f"the first due date is {long_date(due)}" in on_the_day
    travel(days=29)
    after = launched("u-tom").get("/team/").get_data(as_text=True)
    assert "Remind everyone who is overdue (3)" in after
    assert "Nobody in your team is overdue" not in after


def test_reminding_everyone_overdue_when_nobody_is_sends_nothing_and_says_so(
    council: dict[str, Person], launched: Any, inbox: Inbox, travel: Any
) -> None:
    travel(days=40)
    tom = launched("u-tom")
    checked = check(tom, everyone=True)  # all three overdue when the page was drawn...
    travel(days=0)  # ...and by the time Tom presses send, nobody is (the due rule moved)
    with_no_one = send(tom, checked.replace('name="person" value=', 'name="x" value='))
    # The check page always names the people; without them the POST re-reads the team.
    assert with_no_one.status_code == 302 and with_no_one.headers["Location"] == "/team/"
    page = tom.get("/team/").get_data(as_text=True)
    assert "Nobody was reminded: nobody in your team is overdue now." in page
    assert inbox.messages == []
    shown_once = tom.get("/team/").get_data(as_text=True)
    assert "Nobody was reminded" not in shown_once  # said once, not on every visit


def test_a_post_that_finds_nobody_overdue_redirects_with_the_reason(
    council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    """The race: the button was on an older page, and nobody is overdue now."""
    tom = launched("u-tom")
    lee = council["E1002"].id
    response = tom.post(
        "/team/remind", data={"csrf_token": token(tom, lee), "everyone_overdue": "1"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/team/"
    page = tom.get("/team/").get_data(as_text=True)
    assert "Nobody was reminded: nobody in your team is overdue now." in page
    assert "Remind everyone who is overdue" not in page
    by_link = tom.get("/team/remind?everyone_overdue=1")
    assert by_link.status_code == 302 and by_link.headers["Location"] == "/team/"
    assert inbox.messages == []


def test_choosing_nobody_returns_to_the_team_with_an_error_summary(
    council: dict[str, Person], launched: Any
) -> None:
    tom = launched("u-tom")
    response = tom.get("/team/remind")
    assert response.status_code == 302 and response.headers["Location"] == "/team/"
    page = tom.get("/team/").get_data(as_text=True)
    assert "<title>Error: Your team" in page
    assert "Select the people you want to remind" in page
    assert 'href="#person-' in page


@pytest.mark.parametrize(("days", "allowed"), [(4, False), (5, True)])
def test_someone_can_be_reminded_again_from_the_fifth_day(
    council: dict[str, Person],
    launched: Any,
    inbox: Inbox,
    travel: Any,
    days: int,
    allowed: bool,
) -> None:
    tom = launched("u-tom")
    lee = council["E1002"].id
    first = today()
    remind(tom, lee)
    again_on = long_date(first + timedelta(days=5))
    page = tom.get("/team/").get_data(as_text=True)
    assert f"Can be reminded again from {again_on}" in page
    travel(days=days)
    tom = launched("u-tom")  # a visit lasts hours, not days
    page = tom.get("/team/").get_data(as_text=True)
    assert (f"Can be reminded again from {again_on}" in page) is not allowed
    checked = check(tom, lee)
    assert ("Send the reminder" in checked) is allowed
    csrf_token = token(tom, council["E1001"].id)  # no send button for Lee on day 4
    response = tom.post("/team/remind", data={"csrf_token": csrf_token, "person": [lee]})
    assert response.status_code == 302
    assert len(inbox.to(f"lee.morgan@{D}")) == (2 if allowed else 1)
    if not allowed:
        assert response.headers["Location"] == "/team/"
        assert "were reminded since you checked" in tom.get("/team/").get_data(as_text=True)


def test_the_check_page_shows_the_email_that_is_then_sent_and_refresh_sends_nothing(
    council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    tom = launched("u-tom")
    aisha, lee = council["E1001"].id, council["E1002"].id
    page = check(tom, aisha, lee)
    assert "Check the reminder before you send it" in page
    assert "It will go to 2 people" in page
    assert '<li class="app-break-word">Aisha Khan</li>' in page
    assert '<li class="app-break-word">Lee Morgan</li>' in page
    assert 'Subject:</strong> <span class="app-break-word">Reminder: the mandatory' in page
    assert "Send 2 reminders" in page
    assert inbox.messages == []  # a GET sends nothing
    response = send(tom, page)
    results = response.headers["Location"]
    html = tom.get(results).get_data(as_text=True)
    assert "Sent (2)" in html
    assert "Sent (2)" in tom.get(results).get_data(as_text=True)  # refreshing: the same
    assert len(inbox.messages) == 2  # and nothing sent again
    [message] = inbox.to(f"aisha.khan@{D}")
    text = message.get_body(("plain",)).get_content()
    shown = re.search(r'app-email-preview__body">(.*?)</div>', page, re.S)
    assert (
        shown is not None
        and html_unescape(shown.group(1)).strip() == text.replace("\r\n", "\n").strip()
    )


def test_the_email_names_the_manager_how_long_it_takes_and_whom_to_ask(
    app: Flask, council: dict[str, Person], launched: Any, inbox: Inbox, runner: FlaskCliRunner
) -> None:
    tom = launched("u-tom")
    remind(tom, council["E1002"].id)
    [message] = inbox.to(f"lee.morgan@{D}")
    text = message.get_body(("plain",)).get_content()
    assert "Tom Price has asked for this reminder to be sent to you." in text
    # 5,920 words for staff at 200 a minute (30) and 12 questions (12): about 45 minutes.
    assert "It takes about 45 minutes: reading the policy, then a short quiz." in text
    assert "If you have a question, ask Tom Price." in text  # no contact set
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        org.content_values = {
            "corporate_parenting_team": "the Children's Rights Team",
            "corporate_parenting_email": "cpt@test-borough.gov.uk",
        }
        db.session.commit()
    remind(tom, council["E1001"].id)
    [message] = inbox.to(f"aisha.khan@{D}")
    text = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    expected = "contact the Children's Rights Team at cpt@test-borough.gov.uk."
    assert f"If you have a question, {expected}" in text
    assert 'at <a href="mailto:cpt@test-borough.gov.uk">cpt@test-borough.gov.uk</a>.' in rich
    runner.invoke(args=["reminders", "run"])  # scheduled: nobody asked, so no manager named
    [scheduled] = [m for m in inbox.to(f"sam.wilson@{D}")]
    body = scheduled.get_body(("plain",)).get_content()
    assert "has asked for this reminder" not in body
    assert f"If you have a question, {expected}" in body


def test_names_with_html_or_header_characters_stay_text(
    app: Flask, council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    """A learner controls their own name in the learning portal, and so does a manager."""
    tom = launched("u-tom")
    lee = council["E1002"].id
    with app.app_context():
        row = db.session.get(Person, lee)
        assert row is not None
        row.first_name = "<script>alert(1)</script>"
        row.last_name = "Morgan\r\nBcc: evil@example.org"
        boss = db.session.get(Person, council["E1003"].id)
        assert boss is not None
        boss.name = '<b>Tom</b> "Price"\r\nBcc: evil@example.org'
        db.session.commit()
    page = check(tom, lee)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<b>Tom</b>" not in page and "&lt;b&gt;Tom&lt;/b&gt;" in page
    remind(tom, lee)
    assert inbox.envelopes == [[f"lee.morgan@{D}"]]
    [message] = inbox.messages
    assert message["Bcc"] is None and message["Cc"] is None
    assert "evil" not in "".join(f"{k}: {v}" for k, v in message.items())
    rich = message.get_body(("html",)).get_content()
    assert "<script>" not in rich and "&lt;script&gt;alert(1)&lt;/script&gt;" in rich
    assert "<b>Tom</b>" not in rich and "&lt;b&gt;Tom&lt;/b&gt;" in rich


def test_sending_to_everyone_overdue_reminds_only_those_the_check_page_named(
    council: dict[str, Person], launched: Any, inbox: Inbox, travel: Any
) -> None:
    """Someone who became overdue after Tom checked the e-mail is not reminded unseen."""
    travel(days=40)
    tom = launched("u-tom")
    checked = check(tom, everyone=True)
    sam = council["E1005"].id
    without_sam = checked.replace(f'name="person" value="{sam}"', 'name="x" value=""')
    assert send(tom, without_sam).status_code == 302
    assert {str(m["To"]) for m in inbox.messages} == {f"aisha.khan@{D}", f"lee.morgan@{D}"}


def test_scheduled_reminders_say_whom_to_ask_for_staff_and_for_councillors(
    app: Flask, council: dict[str, Person], runner: FlaskCliRunner, inbox: Inbox
) -> None:
    """No contact set and no manager sent them: staff ask their manager; a councillor has
    none, so the council's corporate parenting team."""
    with app.app_context():
        dan = db.session.get(Person, council["E1007"].id)
        assert dan is not None
        dan.elected_member = True
        db.session.commit()
    runner.invoke(args=["reminders", "run"])
    [staff] = inbox.to(f"sam.wilson@{D}")
    [councillor] = inbox.to(f"dan.hughes@{D}")
    staff_text = staff.get_body(("plain",)).get_content()
    councillor_text = councillor.get_body(("plain",)).get_content()
    assert "If you have a question, ask your manager." in staff_text
    assert (
        "If you have a question, contact Test Borough Council's corporate parenting team."
        in councillor_text
    )
    # 6,481 words for councillors (33 minutes) and 12 questions: about 45 minutes too.
    assert "It takes about 45 minutes" in councillor_text


def test_hr_reminds_everyone_overdue_from_the_people_list(
    council: dict[str, Person], launched: Any, travel: Any, inbox: Inbox
) -> None:
    """HR's one list offers the reminder once someone is overdue (the day after the due
    date), through the same check page; every page of it leads back to the list."""
    hr = launched("u-priya")
    assert "Remind everyone who is overdue" not in hr.get("/hr/people").get_data(as_text=True)
    travel(days=29)
    hr = launched("u-priya")
    listed = hr.get("/hr/people").get_data(as_text=True)
    overdue = re.search(r"Remind everyone who is overdue \((\d+)\)", listed)
    assert overdue is not None and int(overdue.group(1)) >= 3
    assert 'href="/team/remind?everyone_overdue=1"' in listed
    check = hr.get("/team/remind?everyone_overdue=1").get_data(as_text=True)
    assert "Back to People" in check and 'href="/hr/people"' in check
    sent = hr.post("/team/remind", data={"csrf_token": csrf(check), "everyone_overdue": "1"})
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/team/reminded")
    result = hr.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'href="/hr/people"' in result
    assert len(inbox.messages) == int(overdue.group(1))
