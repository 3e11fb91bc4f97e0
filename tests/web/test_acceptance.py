"""Acceptance through HTTP: the declaration, the record, validity and renewal, certificates."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app.clock import london_date, utcnow
from app.db import db
from app.models import Acceptance, AuditEvent, LmsContext, Organisation
from app.services.status import add_months
from tests.learner_flow import answers, attempt_id, csrf, read_all, start_quiz, submit


def passed(app: Flask, client: FlaskClient) -> None:
    read_all(client)
    action, page = start_quiz(client)
    response = submit(client, action, page, answers(app, attempt_id(action)))
    assert response.status_code == 302


def accept(client: FlaskClient, name: str) -> Any:
    page = client.get("/accept").get_data(as_text=True)
    check = client.post(
        "/accept", data={"csrf_token": csrf(page), "accept": "y", "full_name": name}
    )
    assert check.status_code == 302 and check.location == "/accept/check", check.location
    html = client.get(check.location).get_data(as_text=True)
    return client.post(
        "/accept/confirm", data={"csrf_token": csrf(html), "accept": "y", "full_name": name}
    )


def field_value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def checkbox(html: str) -> str:
    match = re.search(r'<input[^>]*name="accept"[^>]*>', html)
    return match.group(0) if match else ""


def acceptances(app: Flask) -> list[Acceptance]:
    with app.app_context():
        rows = list(db.session.scalars(select(Acceptance).order_by(Acceptance.id)))
        db.session.expunge_all()
        return rows


def test_declaration_shows_the_policy_and_what_will_be_recorded(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    assert client.get("/accept").location == "/quiz"  # not before a pass
    passed(app, client)
    page = client.get("/accept").get_data(as_text=True)
    assert (
        "I have read, understood and accept the Corporate Parenting Policy, version 2.0, "
        "effective 1 December 2026."
    ) in page
    assert "not a request for consent" in page
    assert "consent" not in page.replace("not a request for consent", "")
    check = client.post(
        "/accept", data={"csrf_token": csrf(page), "accept": "y", "full_name": "  aisha   KHAN "}
    )
    assert check.status_code == 302 and check.location == "/accept/check"
    html = client.get(check.location).get_data(as_text=True)
    assert "Check before you accept" in html
    assert "You cannot change it afterwards" in html
    assert 'href="/accept"' in html  # a way back (WCAG 3.3.4)
    assert acceptances(app) == []  # nothing recorded before the confirmation


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"full_name": "Aisha Khan"}, "Select the box to confirm that you accept the policy"),
        ({"accept": "y", "full_name": ""}, "Enter your full name"),
        (
            {"accept": "y", "full_name": "Lee Morgan"},
            "Enter your full name as it appears in the learning portal",
        ),
    ],
    ids=["box not ticked", "no name", "someone else's name"],
)
def test_declaration_errors_are_summarised_and_nothing_is_recorded(
    app: Flask, launched: Any, data: dict[str, str], message: str
) -> None:
    client = launched("u-aisha")
    passed(app, client)
    page = client.get("/accept").get_data(as_text=True)
    response = client.post("/accept", data={"csrf_token": csrf(page), **data})
    # Post/Redirect/Get: the errors and what was entered come back on the next GET, once.
    assert response.status_code == 302 and response.location == "/accept"
    html = client.get("/accept").get_data(as_text=True)
    assert "There is a problem" in html and message in html
    assert "<title>Error:" in html
    assert field_value(html, "full_name") == data["full_name"]
    assert ('name="accept"' in html and "checked" in checkbox(html)) == ("accept" in data)
    again = client.get("/accept").get_data(as_text=True)
    assert "There is a problem" not in again and "<title>Error:" not in again
    assert acceptances(app) == []


def test_acceptance_records_the_evidence_hr_relies_on(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    passed(app, client)
    done = accept(client, "Aisha Khan")
    assert done.status_code == 302
    page = client.get(done.location).get_data(as_text=True)
    assert "You have accepted the policy" in page
    [row] = acceptances(app)
    with app.app_context():
        context = db.session.get(LmsContext, row.lms_context_id)
        assert context is not None and context.context_id == "cp-2026"
        from app.models import PolicyVersion

        version = db.session.get(PolicyVersion, row.policy_version_id)
        assert version is not None
        assert row.content_hash == version.content_hash
    assert (
        row.declaration_hash
        == __import__("hashlib").sha256(row.declaration_text.encode()).hexdigest()
    )
    assert row.quiz_score == 100 and row.quiz_submission_id is not None
    assert row.typed_name == "Aisha Khan"
    assert row.ip_address == "127.0.0.1"
    assert row.user_agent and row.resource_link_id == "cp-module"
    assert row.accepted_at.tzinfo is not None
    assert row.valid_until == add_months(london_date(row.accepted_at), 12)
    code = row.verification_code
    assert code[:5] + "-" + code[5:] in page
    overview = client.get("/").get_data(as_text=True)
    assert "Completed" in overview and "Valid until" in overview
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "acceptance")
        ).one()
        assert event.details["acceptance"] == row.id


def test_a_double_submit_or_second_tab_records_nothing_more(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    passed(app, client)
    page = client.get("/accept").get_data(as_text=True)
    client.post(
        "/accept", data={"csrf_token": csrf(page), "accept": "y", "full_name": "Aisha Khan"}
    )
    check = client.get("/accept/check").get_data(as_text=True)
    form = {"csrf_token": csrf(check), "accept": "y", "full_name": "Aisha Khan"}
    first = client.post("/accept/confirm", data=form)
    second = client.post("/accept/confirm", data=form)
    assert len(acceptances(app)) == 1
    assert second.status_code == 302 and second.location == first.location


def test_one_acceptance_per_period_is_also_a_database_rule(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [row] = acceptances(app)
    with app.app_context(), pytest.raises(sa.exc.IntegrityError):
        copy = {
            c.name: getattr(row, c.name) for c in Acceptance.__table__.columns if c.name != "id"
        }
        copy["verification_code"] = "OTHERCODE2"
        db.session.execute(sa.insert(Acceptance), copy)
        db.session.flush()


def test_postgresql_refuses_to_change_or_delete_records(
    app: Flask, launched: Any, database_url: str
) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the append-only trigger is PostgreSQL's; the suite runs there in CI too")
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    owner = sa.create_engine(database_url)  # the owner's own statements meet the triggers
    for statement in (
        "UPDATE acceptance SET quiz_score = 100",
        "DELETE FROM acceptance",
        "UPDATE quiz_submission SET passed = true",
        "DELETE FROM quiz_attempt",
        "UPDATE audit_event SET action = 'x'",
    ):
        with app.app_context():  # the app's runtime role has no such privilege at all
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
        with owner.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text(statement))
    owner.dispose()


def test_certificate_is_a_pdf_with_the_record(app: Flask, launched: Any) -> None:
    from pypdf import PdfReader

    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [row] = acceptances(app)
    response = client.get(f"/certificate/{row.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    for expected in (
        "Aisha Khan",
        "Test Borough Council",
        "Corporate Parenting Policy",
        "version 2.0",
        row.verification_code[:5],
    ):
        assert expected in text
    assert launched("u-lee").get(f"/certificate/{row.id}.pdf").status_code == 404


def test_hr_resolves_a_verification_code_in_its_own_organisation(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [row] = acceptances(app)
    hr = launched("u-priya")
    html = hr.get(
        f"/hr/verify?code={row.verification_code[:5]}-{row.verification_code[5:]}"
    ).get_data(as_text=True)
    assert "This certificate is genuine" in html and "Aisha Khan" in html
    assert hr.get("/hr/verify?code=AAAAA-BBBBB").status_code == 404
    assert client.get(f"/hr/verify?code={row.verification_code}").status_code == 403


def test_renewal_window_then_expiry_reopen_the_journey(
    app: Flask, launched: Any, travel: Any
) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [first] = acceptances(app)
    assert "Completed" in client.get("/").get_data(as_text=True)
    days_to_window = (first.valid_until - timedelta(days=30) - london_date(utcnow())).days
    travel(days=days_to_window + 1)
    html = launched("u-aisha").get("/").get_data(as_text=True)
    assert "Due for renewal" in html and "0 of 10 sections read" in html
    travel(days=days_to_window + 60)
    client = launched("u-aisha")
    assert "Expired" in client.get("/").get_data(as_text=True)
    passed(app, client)
    accept(client, "Aisha Khan")
    second = acceptances(app)[1]
    assert second.cycle == 2
    assert second.valid_until == add_months(london_date(second.accepted_at), 12)


def test_renewing_early_counts_from_the_previous_expiry(
    app: Flask, launched: Any, travel: Any
) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [first] = acceptances(app)
    travel(days=(first.valid_until - london_date(utcnow())).days - 10)  # window open
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    second = acceptances(app)[1]
    assert second.valid_until == add_months(first.valid_until, 12)


def test_counting_from_completion_when_the_organisation_chooses_it(
    app: Flask, launched: Any, travel: Any
) -> None:
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        org.renewal_basis = "completion"
        db.session.commit()
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [first] = acceptances(app)
    travel(days=(first.valid_until - london_date(utcnow())).days - 10)
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    second = acceptances(app)[1]
    assert second.valid_until == add_months(london_date(second.accepted_at), 12)
    assert second.valid_until < add_months(first.valid_until, 12)


def new_version(tmp_path: Any, runner: FlaskCliRunner, version: str, reaccept: bool) -> None:
    import shutil
    from pathlib import Path

    content = tmp_path / "content"
    shutil.copytree(Path(__file__).resolve().parents[2] / "content", content)
    index = content / "corporate-parenting" / "index.md"
    text = index.read_text()
    text = text.replace('version: "2.0"', f'version: "{version}"')
    text = text.replace(
        "requires_reacceptance: true", f"requires_reacceptance: {str(reaccept).lower()}"
    )
    text = text.replace(
        "effective_date: 2026-12-01", f"effective_date: {date.today() - timedelta(days=1)}"
    )
    index.write_text(text + "\nThis version corrects a typing error.\n")
    result = runner.invoke(args=["content", "publish", "--path", str(content)])
    assert result.exit_code == 0, result.output


def test_a_minor_version_keeps_acceptances_a_major_one_reopens_the_journey(
    app: Flask, launched: Any, runner: FlaskCliRunner, tmp_path: Any
) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    new_version(tmp_path / "minor", runner, "2.1", reaccept=False)
    html = launched("u-aisha").get("/").get_data(as_text=True)
    assert "version 2.1" in html.lower() or "Version 2.1" in html
    assert "Completed" in html
    new_version(tmp_path / "major", runner, "3.0", reaccept=True)
    html = launched("u-aisha").get("/").get_data(as_text=True)
    assert "Version 3.0" in html and "Not started" in html


def test_audit_chain_covers_the_journey_and_verifies(
    app: Flask, launched: Any, runner: FlaskCliRunner
) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert actions[0] == "launch"
    assert actions.count("section_read") == 10
    assert {"quiz_attempt_started", "quiz_submitted", "acceptance"} <= set(actions)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0
    assert re.search(rf"OK organisation \d+: {count} events", result.output)


def test_every_step_of_accepting_is_a_page_that_back_and_refresh_can_load_again(
    app: Flask, launched: Any
) -> None:
    """Post/Redirect/Get: each post answers with a redirect to a GET page, and loading any
    of the pages again (refresh, Back) shows it without posting or recording anything."""
    client = launched("u-aisha")
    assert client.get("/accept/check").location == "/quiz"  # nothing passed, nothing to check
    passed(app, client)
    assert client.get("/accept/check").location == "/accept"  # no name typed yet
    page = client.get("/accept").get_data(as_text=True)
    sent = client.post(
        "/accept", data={"csrf_token": csrf(page), "accept": "y", "full_name": "Aisha Khan"}
    )
    assert sent.status_code == 302 and sent.location == "/accept/check"
    for _ in range(2):  # refresh
        check = client.get("/accept/check")
        assert check.status_code == 200 and "Check before you accept" in check.get_data(True)
    # "Change your name" goes back to the form with the name typed, to change it.
    assert field_value(client.get("/accept").get_data(as_text=True), "full_name") == "Aisha Khan"
    html = client.get("/accept/check").get_data(as_text=True)
    done = client.post(
        "/accept/confirm", data={"csrf_token": csrf(html), "accept": "y", "full_name": "Aisha Khan"}
    )
    assert done.status_code == 302 and done.location.startswith("/accept/done/")
    # Back to the check page, the form, or the quiz: the confirmation, nothing new recorded.
    assert client.get("/accept/check").location == done.location
    assert client.get("/accept").location == done.location
    assert client.get(done.location).status_code == 200
    assert len(acceptances(app)) == 1
