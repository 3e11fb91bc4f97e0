"""Managers' team view and reminder e-mails, delivered to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.models import AuditEvent, Person, Reminder
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
    page = tom.get("/team/").get_data(as_text=True)
    lee = council["E1002"]
    response = tom.post("/team/remind", data={"csrf_token": csrf(page), "person": [lee.id]})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Sent (1)" in html
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
    again = tom.post("/team/remind", data={"csrf_token": csrf(page), "person": [lee.id]})
    assert "was reminded less than 5 days ago" in again.get_data(as_text=True)
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
    page = tom.get("/team/").get_data(as_text=True)
    tom.post(
        "/team/remind",
        data={"csrf_token": csrf(page), "person": [council["E1002"].id, council["E1005"].id]},
    )
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
    page = tom.get("/team/").get_data(as_text=True)
    tom.post("/team/remind", data={"csrf_token": csrf(page), "person": [council["E1002"].id]})
    [message] = inbox.to(f"lee.morgan@{D}")
    assert address in message.get_body(("plain",)).get_content()
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
    }
    bad = hr.post("/hr/settings", data={**form, "lms_url": "https://x.example/?sesskey=1"})
    assert bad.status_code == 400 and "sesskey=" in bad.get_data(as_text=True)
    good = "https://learning.test-borough.gov.uk/course/view.php?id=7"
    assert hr.post("/hr/settings", data={**form, "lms_url": good}).status_code == 302
    shown = runner.invoke(args=["org", "show", "--org", ORG]).output
    assert good in shown
    assert good in hr.get("/hr/settings").get_data(as_text=True)


def test_a_manager_cannot_remind_anyone_outside_their_tree(
    council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    tom = launched("u-tom")
    page = tom.get("/team/").get_data(as_text=True)
    response = tom.post(
        "/team/remind", data={"csrf_token": csrf(page), "person": [council["E1007"].id]}
    )
    assert response.status_code == 403
    assert inbox.messages == []


def test_remind_everyone_overdue(
    council: dict[str, Person], launched: Any, inbox: Inbox, travel: Any
) -> None:
    travel(days=40)  # past everyone's due date (28 days from assignment)
    tom = launched("u-tom")
    page = tom.get("/team/?overdue=1").get_data(as_text=True)
    assert "Overdue" in page
    tom.post("/team/remind", data={"csrf_token": csrf(page), "everyone_overdue": "1"})
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
    page = tom.get("/team/").get_data(as_text=True)
    response = tom.post(
        "/team/remind", data={"csrf_token": csrf(page), "person": [council["E1001"].id]}
    )
    html = response.get_data(as_text=True)
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
    assert response.status_code == 302
    page = client.get("/team/").get_data(as_text=True)
    assert names_on(page) == {"Aisha"}


@pytest.mark.parametrize("person", ["2147483648", "0", "-3", "99999999999999999999"])
def test_hr_reminding_an_id_no_row_can_have_is_refused(
    council: dict[str, Person], launched: Any, inbox: Inbox, person: str
) -> None:
    """HR has no team to check the chosen ids against, so an id past the 32-bit columns
    reached PostgreSQL ("integer out of range": a 500)."""
    hr = launched("u-priya")
    page = hr.get("/team/", follow_redirects=True).get_data(as_text=True)  # HR's People page
    response = hr.post("/team/remind", data={"csrf_token": csrf(page), "person": [person]})
    assert response.status_code == 400
    assert "The people chosen could not be read." in response.get_data(as_text=True)
    assert inbox.messages == []


def test_hr_reminding_the_largest_id_finds_nobody(
    council: dict[str, Person], launched: Any, inbox: Inbox
) -> None:
    hr = launched("u-priya")
    page = hr.get("/team/", follow_redirects=True).get_data(as_text=True)  # HR's People page
    response = hr.post("/team/remind", data={"csrf_token": csrf(page), "person": ["2147483647"]})
    assert response.status_code == 200
    assert inbox.messages == []
