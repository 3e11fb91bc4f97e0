"""What HR does to one person's record, through HTTP: an acceptance recorded on their behalf,
a subject access export, a legal hold; and the organisation's settings."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import today
from app.db import db
from app.models import Acceptance, Organisation, Person
from app.services.organisations import today_for
from app.services.policies import current_version
from app.services.reports import Filters, Scope, people_frame
from tests.conftest import events
from tests.learner_flow import csrf
from tests.web.test_acceptance import accept, passed
from tests.web.test_hr_dashboard import add_person, other_organisation, table, text_of

ROSTER_ONLY = {
    "first_name": "Pat",
    "last_name": "Paper",
    "email": "pat.paper@demo-council.example",
    "employee_id": "E200",
    "directorate": "Place",
    "department": "Waste",
}


def acceptances_of(app: Flask, person_id: int) -> list[Acceptance]:
    with app.app_context():
        rows = list(db.session.scalars(select(Acceptance).where(Acceptance.person_id == person_id)))
        db.session.expunge_all()
        return rows


def person_id(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.scalars(select(Person.id).where(Person.email == email)).one()


def date_fields(name: str, day: Any) -> dict[str, list[str]]:
    return {name: [str(day.day), str(day.month), str(day.year)]}


# -- recorded on behalf ----------------------------------------------------------------------


def record_on_paper(hr: FlaskClient, person: int, form: dict[str, Any]) -> Any:
    """Enter a paper acceptance, then record it from the check page: the last response."""
    entered = hr.post(f"/hr/people/{person}/record-acceptance", data=form)
    assert entered.status_code == 302, entered.get_data(as_text=True)
    assert entered.location == f"/hr/people/{person}/record-acceptance/check"
    check = hr.get(entered.location).get_data(as_text=True)
    return hr.post(entered.location, data={"csrf_token": csrf(check)})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"note": ""}, "Enter a note saying how the policy was accepted"),
        ({"confirm": None}, "Confirm that you have seen the signed declaration"),
        ({"declared_on": ["", "", ""]}, "Enter the date of the declaration"),
        ({"declared_on": ["31", "2", "2026"]}, "Date of the declaration must be a real date"),
        ({"declared_on": "future"}, "must be today or in the past"),
        ({"declared_on": ["1", "1", "2026"]}, "must be on or after 1 December 2026"),
    ],
    ids=["no note", "not confirmed", "no date", "not a date", "future", "before the version"],
)
def test_recording_on_behalf_explains_each_mistake_and_records_nothing(
    app: Flask, launched: Any, change: dict[str, Any], message: str
) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    page = hr.get(f"/hr/people/{pat}/record-acceptance").get_data(as_text=True)
    assert "I have read, understood and accept the Corporate Parenting Policy" in page
    form: dict[str, Any] = {
        "csrf_token": csrf(page),
        **date_fields("declared_on", today()),
        "note": "Signed paper declaration, kept in the personnel file",
        "confirm": "y",
    }
    if change.get("declared_on") == "future":
        change = date_fields("declared_on", today() + timedelta(days=1))
    form.update(change)
    form = {k: v for k, v in form.items() if v is not None}
    response = hr.post(f"/hr/people/{pat}/record-acceptance", data=form)
    # Post/Redirect/Get: the form comes back with the error and what was entered.
    assert response.status_code == 302
    assert response.location == f"/hr/people/{pat}/record-acceptance"
    html = hr.get(response.location).get_data(as_text=True)
    assert "There is a problem" in html and message in html
    assert "<title>Error:" in html
    if change.get("note") is None:
        assert "Signed paper declaration, kept in the personnel file</textarea>" in html
    assert acceptances_of(app, pat) == []
    assert events(app, "acceptance_recorded_by_hr") == []


def test_an_acceptance_recorded_on_behalf_is_marked_everywhere_and_audited(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    priya = person_id(app, "priya.shah@demo-council.example")
    page = hr.get(f"/hr/people/{pat}/record-acceptance").get_data(as_text=True)
    declared = today() - timedelta(days=3)
    response = record_on_paper(
        hr,
        pat,
        {
            "csrf_token": csrf(page),
            **date_fields("declared_on", declared),
            "note": "Signed paper declaration <b>in file</b>",
            "confirm": "y",
        },
    )
    assert response.status_code == 302
    assert response.location == f"/hr/people/{pat}?done=acceptance#acceptances"
    [row] = acceptances_of(app, pat)
    assert row.recorded_by_person_id == priya
    assert row.recorded_note == "Signed paper declaration <b>in file</b>"
    assert row.quiz_score is None and row.quiz_submission_id is None
    assert row.accepted_at.date() == declared

    record = hr.get(f"/hr/people/{pat}?done=acceptance").get_data(as_text=True)
    words = text_of(record)
    assert "The acceptance has been recorded" in words
    assert "Recorded on behalf by Priya Shah" in words
    assert "Signed paper declaration &lt;b&gt;in file&lt;/b&gt;" in record
    assert "None: recorded by HR" in words
    assert "Status Completed" in words
    assert "Record an acceptance on their behalf" not in words  # nothing left to record

    listed = hr.get("/hr/people?status=certified").get_data(as_text=True)
    [person_row] = table(listed, "People, page")
    assert person_row[1] == "Completed Recorded by HR (Priya Shah)"

    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        version = current_version(db.session(), app.config["POLICY_KEY"], today())
        assert version is not None
        frame = people_frame(
            db.session(), Scope(org, version, today_for(org, today())), Filters(person_ids=(pat,))
        )
    assert frame.loc[0, "recorded_on_behalf_by"] == "Priya Shah"
    assert frame.loc[0, "status"] == "Completed"

    [event] = events(app, "acceptance_recorded_by_hr")
    assert event.actor_person_id == priya and event.subject_person_id == pat
    assert event.details["acceptance"] == row.id
    assert event.details["declared_on"] == declared.isoformat()
    assert "note" not in event.details  # free text stays out of the unchangeable trail

    again = hr.get(f"/hr/people/{pat}/record-acceptance")
    assert "There is nothing to record" in again.get_data(as_text=True)
    second = hr.post(
        f"/hr/people/{pat}/record-acceptance",
        data={
            "csrf_token": csrf(page),
            **date_fields("declared_on", today()),
            "note": "Again",
            "confirm": "y",
        },
    )
    assert second.status_code == 302
    assert "There is nothing to record" in hr.get(second.location).get_data(as_text=True)
    assert len(acceptances_of(app, pat)) == 1


def test_hr_can_record_a_renewal_on_behalf_of_someone_whose_acceptance_expired(
    app: Flask, launched: Any, travel: Any
) -> None:
    aisha = launched("u-aisha")
    passed(app, aisha)
    accept(aisha, "Aisha Khan")
    travel(days=400)
    hr = launched("u-priya")
    them = person_id(app, "aisha.khan@demo-council.example")
    assert "Expired" in text_of(hr.get(f"/hr/people/{them}").get_data(as_text=True))
    page = hr.get(f"/hr/people/{them}/record-acceptance").get_data(as_text=True)
    response = record_on_paper(
        hr,
        them,
        {
            "csrf_token": csrf(page),
            **date_fields("declared_on", today()),
            "note": "Signed at the team meeting",
            "confirm": "y",
        },
    )
    assert response.status_code == 302
    rows = sorted(acceptances_of(app, them), key=lambda a: a.id)
    assert len(rows) == 2 and rows[1].cycle == 2 and rows[1].recorded_by_person_id is not None
    assert "Status Completed" in text_of(hr.get(f"/hr/people/{them}").get_data(as_text=True))


# -- subject access --------------------------------------------------------------------------


def test_subject_access_export_holds_their_data_and_nobody_elses(app: Flask, launched: Any) -> None:
    aisha = launched("u-aisha")
    passed(app, aisha)
    accept(aisha, "Aisha Khan")
    launched("u-lee")  # someone else, with their own launch and events
    hr = launched("u-priya")
    them = person_id(app, "aisha.khan@demo-council.example")
    page = hr.get(f"/hr/people/{them}").get_data(as_text=True)
    response = hr.post(f"/hr/people/{them}/subject-access", data={"csrf_token": csrf(page)})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    raw = response.get_data(as_text=True)
    data = json.loads(raw)
    assert data["person"]["email"] == "aisha.khan@demo-council.example"
    assert data["person"]["name"] == "Aisha Khan"
    assert data["organisation"] == "Test Borough Council"
    assert len(data["launches"]) == 1 and data["launches"][0]["ip_address"] == "127.0.0.1"
    assert len(data["section_reads"]) == 10
    [attempt] = data["quiz_attempts"]
    assert attempt["passed"] is True and attempt["percent"] == 100
    assert all(q["question"] and q["answer"] and q["correct"] for q in attempt["questions"])
    [acceptance] = data["acceptances"]
    assert acceptance["typed_name"] == "Aisha Khan" and acceptance["policy_version"] == "2.0"
    actions = {e["action"] for e in data["audit_events"]}
    assert {"launch", "section_read", "quiz_submitted", "acceptance"} <= actions
    for other in ("Lee", "lee.morgan", "Priya", "priya.shah", "Morgan"):
        assert other not in raw, other
    [event] = events(app, "subject_access_export")
    assert event.subject_person_id == them
    assert event.actor_person_id == person_id(app, "priya.shah@demo-council.example")


def test_subject_access_export_needs_the_form_and_the_organisation(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    assert hr.post(f"/hr/people/{pat}/subject-access").status_code == 400
    outsider = add_person(app, organisation_id=other_organisation(app), first_name="Zed")
    page = hr.get(f"/hr/people/{pat}").get_data(as_text=True)
    response = hr.post(f"/hr/people/{outsider}/subject-access", data={"csrf_token": csrf(page)})
    assert response.status_code == 404
    assert events(app, "subject_access_export") == []


# -- legal hold ------------------------------------------------------------------------------


def test_legal_hold_needs_a_reason_and_is_audited_both_ways(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    page = hr.get(f"/hr/people/{pat}/legal-hold").get_data(as_text=True)
    assert "Place a legal hold" in page
    missing = hr.post(f"/hr/people/{pat}/legal-hold", data={"csrf_token": csrf(page)})
    assert missing.status_code == 400
    assert "There is a problem" in missing.get_data(as_text=True)
    assert "Enter the reason" in missing.get_data(as_text=True)
    placed = hr.post(
        f"/hr/people/{pat}/legal-hold",
        data={"csrf_token": csrf(page), "reason": "Employment tribunal ref 1234"},
    )
    assert placed.location == f"/hr/people/{pat}?done=hold-placed"
    record = text_of(hr.get(placed.location).get_data(as_text=True))
    assert "Legal hold placed" in record and "Legal hold Yes" in record
    assert "Remove the legal hold" in record
    page = hr.get(f"/hr/people/{pat}/legal-hold").get_data(as_text=True)
    removed = hr.post(
        f"/hr/people/{pat}/legal-hold",
        data={"csrf_token": csrf(page), "reason": "Tribunal closed"},
    )
    assert removed.location == f"/hr/people/{pat}?done=hold-removed"
    [on] = events(app, "legal_hold_placed")
    [off] = events(app, "legal_hold_removed")
    assert on.details == {"reason": "Employment tribunal ref 1234"}
    assert off.details == {"reason": "Tribunal closed"}
    assert on.subject_person_id == off.subject_person_id == pat
    with app.app_context():
        person = db.session.get(Person, pat)
        assert person is not None and person.legal_hold is False


# -- settings --------------------------------------------------------------------------------

GOOD_SETTINGS = {
    "validity_months": "24",
    "renewal_window_days": "45",
    "renewal_basis": "completion",
    "due_from": "start_date",
    "due_days": "21",
    "retention_years": "7",
    "retention_years_childrens": "30",
    "roster_join": "sourcedid",  # unchanged: the default
    "report_target_percent": "95",
    "report_councillor_names": "hidden",
    "report_day": "0",
    "report_period": "quarter",
}


def test_settings_page_shows_and_changes_the_rules_each_change_audited(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    assert re.search(r'id="retention_years_childrens"[^>]*value="25"', page)
    assert re.search(r'id="validity_months"[^>]*value="12"', page)
    assert re.search(r"<legend[^>]*>\s*What the due date counts from\s*</legend>", page)
    response = hr.post("/hr/settings", data={"csrf_token": csrf(page), **GOOD_SETTINGS})
    assert response.status_code == 302 and response.location == "/hr/settings?saved=7"
    assert "Settings saved: 7 changes." in hr.get(response.location).get_data(as_text=True)
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        assert (org.validity_months, org.renewal_window_days) == (24, 45)
        assert (org.renewal_basis, org.due_from) == ("completion", "start_date")
        assert (org.retention_years, org.retention_years_childrens) == (7, 30)
        assert org.due_days == 21
    changes = {e.details["setting"]: e.details for e in events(app, "config_change")}
    assert changes["retention_years_childrens"] == {
        "setting": "retention_years_childrens",
        "from": "25",
        "to": "30",
    }
    assert len(changes) == 7
    again = hr.post("/hr/settings", data={"csrf_token": csrf(page), **GOOD_SETTINGS})
    assert again.location == "/hr/settings?saved=0"
    assert len(events(app, "config_change")) == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"validity_months": "twelve"}, "must be a whole number"),
        ({"validity_months": "0"}, "must be between 1 and 120"),
        ({"validity_months": "\u00b2"}, "must be a whole number"),
        ({"validity_months": "9" * 5000}, "must be between 1 and 120"),
        ({"retention_years": ""}, "Enter how many years to keep a leaver"),
        ({"retention_years_childrens": "5"}, "at least as long as everyone else"),
        ({"renewal_window_days": "400"}, "must be between 0 and 365"),
        ({"renewal_basis": "whenever"}, "must be one of: expiry, completion"),
    ],
    ids=[
        "not a number",
        "too small",
        "superscript two",
        "5000 digits",
        "missing",
        "children's shorter",
        "window",
        "basis",
    ],
)
def test_settings_errors_are_summarised_and_nothing_changes(
    app: Flask, launched: Any, change: dict[str, str], message: str
) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    response = hr.post("/hr/settings", data={"csrf_token": csrf(page), **GOOD_SETTINGS, **change})
    assert response.status_code == 302 and response.location == "/hr/settings"  # PRG
    html = hr.get(response.location).get_data(as_text=True)
    assert "There is a problem" in html and message in html.replace("&#39;", "'")
    assert "<title>Error:" in html
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        assert org.validity_months == 12 and org.retention_years == 6
    assert events(app, "config_change") == []


def test_settings_need_the_csrf_token(launched: Any) -> None:
    hr = launched("u-priya")
    assert hr.post("/hr/settings", data=GOOD_SETTINGS).status_code == 400
