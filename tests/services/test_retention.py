"""Retention: who is due for anonymisation (years after leaving, longer for the children's
workforce, never on legal hold), what anonymising removes and keeps, the audit chain still
verifying afterwards, and the append-only guard on PostgreSQL staying shut."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import db
from app.models import (
    Acceptance,
    AuditEvent,
    Launch,
    Organisation,
    Person,
    QuizSubmission,
    Reminder,
    ScoreOutbox,
)
from app.services import people
from app.services.attempts import question_statistics
from app.services.organisations import today_for
from app.services.policies import current_version
from app.services.question_bank import current_bank
from app.services.reports import Filters, Scope, dashboard
from app.services.settings import change_settings
from app.services.status import add_months
from tests.conftest import ORG
from tests.web.test_acceptance import accept, passed

AISHA = "aisha.khan@demo-council.example"


def _org(app: Flask) -> Organisation:
    org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).first()
    if org is None:
        org = Organisation(name=ORG)
        db.session.add(org)
        db.session.flush()
    return org


def leaver(org: Organisation, left_on: date | None, **fields: Any) -> Person:
    person = Person(
        organisation_id=org.id,
        first_name=fields.pop("first_name", "Lee"),
        last_name=fields.pop("last_name", "Ver"),
        email=fields.pop("email", None),
        employee_id=fields.pop("employee_id", None),
        directorate="Place",
        department="Housing",
        active=fields.pop("active", False),
        left_on=left_on,
        assigned_on=date(2015, 1, 1),
        **fields,
    )
    db.session.add(person)
    db.session.flush()
    return person


# -- who is due ------------------------------------------------------------------------------


def test_retention_runs_from_leaving_and_is_longer_for_the_childrens_workforce(
    app: Flask,
) -> None:
    with app.app_context():
        org = _org(app)
        assert (org.retention_years, org.retention_years_childrens) == (6, 25)
        left = date(2020, 3, 31)
        plain = leaver(org, left, employee_id="P1")
        childrens = leaver(org, left, employee_id="C1", childrens_workforce=True)
        long_ago = leaver(org, date(2001, 2, 28), employee_id="C2", childrens_workforce=True)
        held = leaver(org, date(2001, 2, 28), employee_id="H1", legal_hold=True)
        leaver(org, None, employee_id="U1")  # left, date unknown: never guessed
        leaver(org, date(2001, 2, 28), employee_id="A1", active=True)  # back in post
        done = leaver(org, date(2001, 2, 28), employee_id="X1")
        done.anonymised_at = utcnow()

        def due(day: date) -> set[str | None]:
            return {p.employee_id for p in people.due_for_anonymisation(db.session(), org, day)}

        assert people.retention_ends(plain, org) == date(2026, 3, 31)
        assert people.retention_ends(childrens, org) == date(2045, 3, 31)
        assert people.retention_ends(long_ago, org) == date(2026, 2, 28)
        assert due(date(2026, 2, 27)) == set()
        assert due(date(2026, 2, 28)) == {"C2"}
        assert due(date(2026, 3, 30)) == {"C2"}
        assert due(date(2026, 3, 31)) == {"C2", "P1"}
        assert due(date(2045, 3, 31)) == {"C2", "P1", "C1"}
        assert held.employee_id not in due(date(2100, 1, 1))
        # The organisation's setting decides.
        change_settings(db.session(), org, {"retention_years": "10"}, utcnow(), actor="test")
        assert due(date(2026, 3, 31)) == {"C2"}


def test_a_person_on_legal_hold_is_never_anonymised(app: Flask) -> None:
    with app.app_context():
        org = _org(app)
        held = leaver(org, date(2001, 1, 1), email="held@example.com", legal_hold=True)
        with pytest.raises(people.OnLegalHold):
            people.anonymise(db.session(), held, utcnow())
        assert held.email == "held@example.com" and held.anonymised_at is None


def test_dashboard_totals_with_leavers_are_unchanged_by_anonymisation(
    app: Flask, registered: Any
) -> None:
    with app.app_context():
        org = _org(app)
        leaver(org, date(2010, 1, 1), email="old@example.com")
        leaver(org, date(2010, 1, 1), email="older@example.com", childrens_workforce=True)
        db.session.commit()
        version = current_version(db.session(), app.config["POLICY_KEY"], today())
        assert version is not None
        scope = Scope(org, version, today_for(org, today()))
        before = dashboard(db.session(), scope, Filters(include_leavers=True))
        [due] = people.due_for_anonymisation(db.session(), org, today())
        people.anonymise(db.session(), due, utcnow())
        db.session.commit()
        after = dashboard(db.session(), scope, Filters(include_leavers=True))
        assert after.total == before.total == 2
        assert after.by_unit == before.by_unit


# -- anonymising, end to end -----------------------------------------------------------------


def six_years_ago() -> date:
    """A leaving date whose six-year retention ends today (by the database's own date too:
    on PostgreSQL the database decides, and the tests cannot move its clock)."""
    return add_months(today(), -72)


@pytest.fixture
def aisha_left(app: Flask, launched: Any) -> dict[str, Any]:
    """Aisha completed through the real journey and was reminded; her record says she left
    six years ago, so her retention ends today. With her, leavers who left on the same day and
    must be kept: children's workforce, and on legal hold."""
    client = launched("u-aisha")
    passed(app, client)
    assert accept(client, "Aisha Khan").status_code == 302
    with app.app_context():
        org = _org(app)
        aisha = db.session.scalars(select(Person).where(Person.email == AISHA)).one()
        aisha.active = False
        aisha.left_on = six_years_ago()
        aisha.employee_id = "E001"
        aisha.first_name, aisha.last_name = "Aisha", "Khan"
        aisha.job_title = "Housing officer"
        aisha.directorate, aisha.department = "Place", "Housing"
        db.session.add(
            Reminder(
                organisation_id=org.id,
                person_id=aisha.id,
                kind="manual",
                to_address=AISHA,
                subject="Aisha, please complete the module",
                created_at=utcnow(),
                outcome="sent",
                details={"text": "Dear Aisha Khan"},
            )
        )
        kept = {
            "childrens": leaver(
                org, six_years_ago(), email="cw@example.com", childrens_workforce=True
            ).id,
            "held": leaver(org, six_years_ago(), email="held@example.com", legal_hold=True).id,
        }
        db.session.commit()
        return {"aisha": aisha.id, "org": org.id, **kept}


def _snapshot(app: Flask) -> dict[str, Any]:
    with app.app_context():
        version = current_version(db.session(), app.config["POLICY_KEY"], today())
        assert version is not None
        bank = current_bank(db.session(), version.policy_id)
        assert bank is not None
        org = _org(app)
        return {
            "stats": question_statistics(db.session(), org.id, bank),
            "acceptances": db.session.scalar(select(sa.func.count()).select_from(Acceptance)),
            "passes": db.session.scalar(
                select(sa.func.count())
                .select_from(QuizSubmission)
                .where(QuizSubmission.passed.is_(True))
            ),
        }


def test_a_leaver_past_retention_is_anonymised_and_the_figures_and_chain_survive(
    app: Flask, runner: FlaskCliRunner, launched: Any, aisha_left: dict[str, Any]
) -> None:
    ids = aisha_left
    before = _snapshot(app)

    listed = runner.invoke(args=["people", "anonymise", "--org", ORG, "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert f"person {ids['aisha']}  employee id E001" in listed.output
    assert "kept 6 years" in listed.output and "Dry run: 1 due; nothing changed." in listed.output
    with app.app_context():
        person = db.session.get(Person, ids["aisha"])
        assert person is not None and person.anonymised_at is None

    result = runner.invoke(args=["people", "anonymise", "--org", ORG])
    assert result.exit_code == 0, result.output
    assert "Anonymised 1." in result.output

    with app.app_context():
        person = db.session.get(Person, ids["aisha"])
        assert person is not None and person.anonymised_at is not None
        for field in (
            "given_name",
            "family_name",
            "email",
            "employee_id",
            "first_name",
            "last_name",
            "job_title",
            "issuer",
            "subject",
        ):
            assert getattr(person, field) is None, field
        assert person.name == ""
        # What the figures count by stays.
        assert (person.directorate, person.department) == ("Place", "Housing")
        assert person.active is False and person.left_on is not None
        [row] = db.session.scalars(select(Acceptance).where(Acceptance.person_id == person.id))
        assert (row.typed_name, row.ip_address, row.user_agent) == ("", None, None)
        assert row.quiz_score == 100 and row.valid_until is not None
        launch = db.session.scalars(select(Launch).where(Launch.person_id == person.id)).one()
        assert launch.ip_address is None and launch.user_agent is None
        reminder = db.session.scalars(select(Reminder).where(Reminder.person_id == person.id)).one()
        assert (reminder.to_address, reminder.subject, reminder.details) == ("", "", {})
        assert reminder.kind == "manual" and reminder.outcome == "sent"
        for outbox in db.session.scalars(
            select(ScoreOutbox).where(ScoreOutbox.acceptance_id == row.id)
        ):
            assert outbox.user_id == ""
        for kept in (ids["childrens"], ids["held"]):
            other = db.session.get(Person, kept)
            assert other is not None and other.anonymised_at is None and other.email

        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "person_anonymised")
        )
        assert event.subject_person_id == person.id and event.actor == "cli"
        assert event.details == {"retention_years": 6}
        trail = json.dumps(
            [e.details for e in db.session.scalars(select(AuditEvent))], ensure_ascii=False
        )
        assert "Aisha" not in trail and AISHA not in trail and "E001" not in trail

    assert _snapshot(app) == before  # quiz statistics, acceptances and passes all counted

    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "OK organisation" in verified.output and "BROKEN" not in verified.output

    again = runner.invoke(args=["people", "anonymise", "--org", ORG])
    assert again.exit_code == 0 and "nobody is due" in again.output

    hr = launched("u-priya")
    page = hr.get(f"/hr/people/{ids['aisha']}").get_data(as_text=True)
    assert "Anonymised person" in page and "Their personal details were removed" in page
    assert "Aisha" not in page and "E001" not in page
    assert "Download their data" not in page  # nothing personal left to export


def test_the_anonymise_command_needs_a_known_organisation(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["people", "anonymise", "--org", "Nowhere Council"])
    assert result.exit_code != 0 and "No organisation called 'Nowhere Council'" in result.output


def test_org_set_changes_a_rule_with_an_audit_event(
    app: Flask, runner: FlaskCliRunner, registered: Any
) -> None:
    result = runner.invoke(args=["org", "set", "--org", ORG, "retention_years", "8"])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(args=["org", "set", "--org", ORG, "retention_years_childrens", "3"])
    assert refused.exit_code != 0 and "at least as long" in refused.output
    shown = runner.invoke(args=["org", "show", "--org", ORG])
    assert re.search(r"^retention_years +8 ", shown.output, re.M), shown.output
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "config_change"))
        assert event.actor == "cli"
        assert event.details == {"setting": "retention_years", "from": "6", "to": "8"}


# -- PostgreSQL: the append-only guard -------------------------------------------------------


def test_postgresql_lets_only_anonymisation_change_an_acceptance(
    app: Flask, aisha_left: dict[str, Any]
) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the append-only trigger is PostgreSQL's; the suite runs there in CI too")
    refused = "append-only|permission denied"  # the runtime role has no UPDATE either
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError, match=refused):
            db.session.execute(sa.text("UPDATE acceptance SET typed_name = ''"))
        db.session.rollback()

        person = db.session.get(Person, aisha_left["aisha"])
        assert person is not None
        people.anonymise(db.session(), person, utcnow())
        # Nothing stays open after it: the rest of the same transaction is still refused.
        with pytest.raises(sa.exc.DBAPIError, match=refused):
            db.session.execute(sa.text("UPDATE acceptance SET quiz_score = 1"))
        db.session.rollback()

        people.anonymise(db.session(), db.session.get(Person, aisha_left["aisha"]), utcnow())
        db.session.commit()
        # And in any later transaction.
        with pytest.raises(sa.exc.DBAPIError, match=refused):
            db.session.execute(sa.text("UPDATE acceptance SET typed_name = 'x'"))
        db.session.rollback()
        with pytest.raises(sa.exc.DBAPIError, match=refused):
            db.session.execute(sa.text("DELETE FROM acceptance"))
        db.session.rollback()
        assert db.session.scalar(select(Acceptance.typed_name)) == ""


def test_legal_hold_stops_the_command_too(
    app: Flask, runner: FlaskCliRunner, aisha_left: dict[str, Any]
) -> None:
    with app.app_context():
        person = db.session.get(Person, aisha_left["aisha"])
        assert person is not None
        people.set_legal_hold(db.session(), person, True, "Claim 42", utcnow(), actor="test")
        db.session.commit()
    result = runner.invoke(args=["people", "anonymise", "--org", ORG])
    assert result.exit_code == 0, result.output
    assert f"person {aisha_left['aisha']} " not in result.output
    with app.app_context():
        person = db.session.get(Person, aisha_left["aisha"])
        assert person is not None and person.email == AISHA and person.anonymised_at is None
        with pytest.raises(people.OnLegalHold):
            people.anonymise(db.session(), person, utcnow())


@pytest.mark.parametrize(
    ("ends", "anonymised"),
    [(-1, True), (0, True), (1, False)],
    ids=["ended yesterday", "ends today", "ends tomorrow"],
)
def test_retention_ends_on_its_last_day_exactly_for_the_command_and_the_service(
    app: Flask, runner: FlaskCliRunner, ends: int, anonymised: bool
) -> None:
    """The day the retention ends, a leaver is anonymised; the day before, not: by the
    command's list and, on PostgreSQL, by the database's own date in anonymise_leaver()."""
    from datetime import timedelta

    with app.app_context():
        org = _org(app)
        # Leaving dates whose end is exact: six years back from a day early in the month.
        left = add_months(today() + timedelta(days=ends), -72)
        assert people.retention_ends(leaver(org, left), org) == today() + timedelta(days=ends)
        person = db.session.scalars(select(Person)).one()
        person_id = person.id
        if not anonymised:
            with pytest.raises(people.NotDue):
                people.anonymise(db.session(), person, utcnow())
        db.session.commit()
    result = runner.invoke(args=["people", "anonymise", "--org", ORG])
    assert result.exit_code == 0, result.output
    assert ("Anonymised 1." in result.output) is anonymised, result.output
    with app.app_context():
        person = db.session.get(Person, person_id)
        assert person is not None
        assert (person.anonymised_at is not None) is anonymised
        assert (person.last_name is None) is anonymised
