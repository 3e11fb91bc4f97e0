"""How a first launch joins HR's roster: by the organisation's rule, never re-linking an
entry, never overwriting the roster's record, and handing the roster's rights (a manager's
team) to a join by a user-settable key only once HR confirms it. Real signed launches from
the demo LMS, real HTTP, the real database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.models import Organisation, Person
from app.services import identities
from scripts.demo_lms.platform import (
    ROLE_LEARNER,
    ROLE_MENTOR,
    ROLE_STAFF,
    DemoPerson,
    DemoPlatform,
)
from tests.conftest import events, tool_client
from tests.learner_flow import csrf, read_all, start_quiz
from tests.lti_flow import Flow

ORG = "Test Borough Council"
D = "demo-council.example"
# Employee IDs are the demo LMS's ID numbers (lis_person_sourcedid). Tom manages Aisha, Lee
# and Sam; Tom has never launched.
ROSTER = (
    "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date\n"
    f"E1010,Rachel,Green,rachel.green@{D},Place,Office,,01/01/2014\n"
    f"E1003,Tom,Price,tom.price@{D},Place,Housing,E1010,01/03/2015\n"
    f"E1001,Aisha,Khan,aisha.khan@{D},Place,Housing,E1003,04/01/2021\n"
    f"E1002,Lee,Morgan,lee.morgan@{D},Place,Planning,E1003,12/09/2022\n"
    f"E1005,Sam,Wilson,sam.wilson@{D},Place,Housing,E1003,02/11/2026\n"
    f"E1004,Priya,Shah,priya.shah@{D},Resources,HR,E1010,15/06/2018\n"
)
TEAM = {"Aisha Khan", "Lee Morgan", "Sam Wilson"}
# LMS accounts besides the demo's own: the issue's attacker (a new user id, Tom's e-mail,
# which Moodle lets users set on their own profile), a second account carrying Tom's ID
# number, and one whose activity has a custom employee_id (which a course editor can set).
EXTRA = [
    DemoPerson(
        "u-mallory", "Mallory Evans", "Mallory", "Evans", f"tom.price@{D}",
        [ROLE_LEARNER, ROLE_STAFF],
    ),
    DemoPerson(
        "u-tom-again", "Tom Price", "Tom", "Price", f"tom.p@{D}",
        [ROLE_LEARNER, ROLE_STAFF], sourcedid="E1003",
    ),
    DemoPerson(
        "u-custom", "Cass Tom", "Cass", "Tom", f"cass@{D}",
        [ROLE_LEARNER, ROLE_STAFF], custom={"employee_id": "E1003"},
    ),
]  # fmt: skip


@pytest.fixture
def lms(registered: DemoPlatform) -> Iterator[DemoPlatform]:
    """The demo LMS with the extra accounts (and its own people as they were, afterwards)."""
    before = dict(registered.people)
    registered.people.update({p.user_id: p for p in EXTRA})
    yield registered
    registered.people.clear()
    registered.people.update(before)


@pytest.fixture
def council(app: Flask, lms: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output


def set_rule(runner: FlaskCliRunner, rule: str) -> None:
    result = runner.invoke(args=["org", "set", "--org", ORG, "roster_join", rule])
    assert result.exit_code == 0, result.output


def tom(app: Flask) -> Person:
    return person_where(app, Person.employee_id == "E1003")


def person_where(app: Flask, *where: Any) -> Person:
    with app.app_context():
        found = db.session.scalars(select(Person).where(*where)).one()
        db.session.expunge_all()
        return found


def sees_team(client: FlaskClient) -> bool:
    """Whether /team/ and its CSV show Tom's reports (a refusal is 403, or for a teacher
    the page saying nobody reports to them; nothing leaks)."""
    page = client.get("/team/")
    listing = client.get("/team/team.csv")
    if page.status_code == 403:
        assert listing.status_code == 403
        assert not any(n in page.get_data(as_text=True) for n in TEAM)
        assert "Your team" not in client.get("/").get_data(as_text=True)
        return False
    if "Nobody reports to you" in page.get_data(as_text=True):
        # A teacher (LMS Instructor) gets the page that says so, with nobody on it.
        assert page.status_code == 200 and listing.status_code == 200
        assert not any(n in page.get_data(as_text=True) for n in TEAM)
        assert listing.get_data(as_text=True).count("\n") == 1  # the header alone
        return False
    assert page.status_code == listing.status_code == 200
    csv = listing.get_data(as_text=True)
    for name in TEAM:
        first, last = name.split()
        assert name in page.get_data(as_text=True) and f"{first},{last}," in csv
    assert "Your team" in client.get("/").get_data(as_text=True)
    return True


def a_token(client: FlaskClient) -> str:
    """A CSRF token from a learner's own page (the quiz's start page, once all is read)."""
    read_all(client)
    return csrf(client.get("/quiz").get_data(as_text=True))


def hr_post(hr: FlaskClient, person_id: int, action: str) -> Any:
    page = hr.get("/hr/identities").get_data(as_text=True)
    return hr.post(f"/hr/identities/{person_id}/{action}", data={"csrf_token": csrf(page)})


def test_the_issue_reproduction_an_email_join_sees_no_team_until_hr_confirms(
    app: Flask, council: None, runner: FlaskCliRunner, launched: Any
) -> None:
    set_rule(runner, "email")
    mallory = launched("u-mallory")  # a Learner, a new user id, Tom's e-mail
    assert not sees_team(mallory)
    record = tom(app)
    aisha = person_where(app, Person.employee_id == "E1001")
    refused = mallory.post(
        "/team/remind", data={"csrf_token": a_token(mallory), "person": str(aisha.id)}
    )
    assert refused.status_code == 403
    # Joined (one record for one e-mail), but the roster's record stands and is not trusted.
    assert record.subject == "u-mallory" and record.joined_by == "email"
    assert record.join_confirmed_at is None
    assert (record.name, record.email) == ("Tom Price", f"tom.price@{D}")
    assert (record.given_name, record.family_name) == ("Mallory", "Evans")  # the LMS's words
    [joined] = events(app, "identity_join")
    assert joined.details == {"person": record.id, "by": "email", "confirmed": False}

    hr = launched("u-priya")
    assert 'href="/hr/identities"' in hr.get("/hr/").get_data(as_text=True)  # HR's menu
    page = hr.get("/hr/identities").get_data(as_text=True)
    assert "Tom Price" in page and "Mallory Evans" in page and "E-mail address" in page
    assert hr.post(f"/hr/identities/{record.id}/confirm").status_code == 400  # no CSRF token
    assert not sees_team(mallory)
    confirmed = hr_post(hr, record.id, "confirm")
    assert confirmed.status_code == 302 and confirmed.location == "/hr/identities?done=confirm"
    listed = hr.get("/hr/identities").get_data(as_text=True)
    assert "Join confirmed." in hr.get(confirmed.location).get_data(as_text=True)
    assert f"/hr/identities/{record.id}/confirm" not in listed  # (Priya's own join is there)
    [event] = events(app, "identity_join_confirmed")
    assert event.details == {"person": record.id, "by": "email"}
    assert event.subject_person_id == record.id and event.actor_person_id != record.id
    assert sees_team(mallory)  # HR said this account is Tom's: the team follows
    assert hr_post(hr, record.id, "confirm").status_code == 404  # nothing left to confirm


@pytest.mark.parametrize(
    ("rule", "user", "joins", "trusted"),
    [
        pytest.param("sourcedid", "u-tom", True, True, id="sourcedid-trusted-at-once"),
        pytest.param("sourcedid", "u-mallory", False, False, id="sourcedid-email-alone"),
        pytest.param("sourcedid", "u-custom", False, False, id="sourcedid-custom-ignored"),
        pytest.param("email", "u-mallory", True, False, id="email-waits-for-hr"),
        pytest.param("email", "u-tom", True, False, id="email-even-with-an-id-number"),
        pytest.param("employee_id", "u-custom", True, False, id="custom-waits-for-hr"),
        pytest.param("employee_id", "u-tom", False, False, id="custom-ignores-id-number"),
        pytest.param("never", "u-tom", False, False, id="never-id-number"),
        pytest.param("never", "u-mallory", False, False, id="never-email"),
    ],
)
def test_a_first_launch_joins_by_the_organisations_rule_only(
    app: Flask,
    council: None,
    runner: FlaskCliRunner,
    launched: Any,
    rule: str,
    user: str,
    joins: bool,
    trusted: bool,
) -> None:
    if rule != "sourcedid":  # the default
        set_rule(runner, rule)
    client = launched(user)
    record = tom(app)
    assert (record.subject == user) is joins
    assert (record.name, record.email) == ("Tom Price", f"tom.price@{D}")
    if joins:
        assert record.joined_by == rule and (record.join_confirmed_at is not None) is trusted
    else:
        assert record.issuer is None and record.joined_by is None
        separate = person_where(app, Person.subject == user)
        assert separate.employee_id is None and separate.clash_with_id is None
    assert sees_team(client) is trusted


def test_the_default_rule_is_the_lms_id_number(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner
) -> None:
    shown = runner.invoke(args=["org", "show", "--org", ORG])
    assert "roster_join" in shown.output and "sourcedid" in shown.output
    refused = runner.invoke(args=["org", "set", "--org", ORG, "roster_join", "name"])
    assert refused.exit_code != 0
    assert "must be one of: sourcedid, email, employee_id, never" in refused.output
    set_rule(runner, "never")
    [change] = events(app, "config_change")
    assert change.details == {"setting": "roster_join", "from": "sourcedid", "to": "never"}


def test_a_linked_entry_is_never_relinked_and_hr_sees_the_clash(
    app: Flask, council: None, runner: FlaskCliRunner, launched: Any
) -> None:
    real = launched("u-tom")  # joined by his ID number
    assert sees_team(real)
    second = launched("u-tom-again")  # the same ID number, another account
    assert not sees_team(second)
    record = tom(app)
    assert record.subject == "u-tom"  # still the first account's
    newcomer = person_where(app, Person.subject == "u-tom-again")
    assert newcomer.clash_with_id == record.id and newcomer.employee_id is None
    [clash] = events(app, "identity_clash")
    assert clash.details == {"person": newcomer.id, "roster_entry": record.id, "by": "sourcedid"}
    assert "Tom" not in str(clash.details)  # ids and facts, not names
    set_rule(runner, "email")  # nor by e-mail: the entry is taken whatever the rule
    launched("u-mallory")
    assert tom(app).subject == "u-tom" and len(events(app, "identity_clash")) == 2

    hr = launched("u-priya")
    page = hr.get("/hr/identities").get_data(as_text=True)
    assert "Launches that matched someone else" in page
    assert "Mallory Evans" in page and "ID number (lis_person_sourcedid)" in page
    done = hr_post(hr, newcomer.id, "reviewed")
    assert done.status_code == 302
    [reviewed] = events(app, "identity_clash_reviewed")
    assert reviewed.details == {"person": newcomer.id, "roster_entry": record.id}
    assert person_where(app, Person.id == newcomer.id).clash_with_id is None
    assert hr_post(hr, newcomer.id, "reviewed").status_code == 404
    assert sees_team(real)


def test_later_launches_never_overwrite_the_rosters_record_but_update_everyone_else(
    app: Flask, council: None, lms: DemoPlatform, launched: Any
) -> None:
    launched("u-tom")
    launched("u-jo")  # not on this roster: the LMS is her record
    tom_before, jo_before = lms.people["u-tom"], lms.people["u-jo"]
    try:
        lms.people["u-tom"] = dataclasses.replace(
            tom_before, name="Mallory Evans", given_name="Mallory", email=f"m@{D}"
        )
        lms.people["u-jo"] = dataclasses.replace(
            jo_before, name="Jo Evans-Smith", email=f"jo.smith@{D}"
        )
        launched("u-tom")
        launched("u-jo")
    finally:
        lms.people["u-tom"], lms.people["u-jo"] = tom_before, jo_before
    record = tom(app)
    assert (record.name, record.email, record.employee_id) == (
        "Tom Price",
        f"tom.price@{D}",
        "E1003",
    )
    assert record.given_name == "Mallory"  # the LMS's own field, for HR's review
    jo = person_where(app, Person.subject == "u-jo")
    assert (jo.name, jo.email) == ("Jo Evans-Smith", f"jo.smith@{D}")


def test_a_roster_import_that_renames_someone_renames_their_record(
    app: Flask, council: None, runner: FlaskCliRunner, launched: Any, tmp_path: Path
) -> None:
    launched("u-tom")
    path = tmp_path / "renamed.csv"
    path.write_text(ROSTER.replace("E1003,Tom,Price", "E1003,Thomas,Price"))
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output
    assert tom(app).name == "Thomas Price"


def test_a_mentor_scope_is_unaffected_by_an_unconfirmed_join(
    app: Flask, council: None, runner: FlaskCliRunner, lms: DemoPlatform, http: requests.Session
) -> None:
    set_rule(runner, "email")
    Flow(tool_client(app), lms, http).launch_as("u-lee")  # the mentee is known by LMS id
    client = tool_client(app)

    def as_mentor(claims: dict[str, Any]) -> None:
        claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [ROLE_MENTOR]
        claims["https://purl.imsglobal.org/spec/lti/claim/role_scope_mentor"] = ["u-lee"]

    response, _ = Flow(client, lms, http).forged("u-mallory", as_mentor)
    assert response.status_code == 200
    page = client.get("/team/").get_data(as_text=True)
    assert "Lee Morgan" in page  # named by the LMS
    assert "Aisha Khan" not in page and "Sam Wilson" not in page  # the roster's: not yet


def test_hr_undoes_a_wrong_join_and_the_entry_is_free_for_the_right_person(
    app: Flask, council: None, runner: FlaskCliRunner, launched: Any
) -> None:
    set_rule(runner, "email")
    mallory = launched("u-mallory")
    entry_id = tom(app).id
    hr = launched("u-priya")
    undone = hr_post(hr, entry_id, "undo")
    assert undone.status_code == 302 and undone.location == "/hr/identities?done=undo"
    record = tom(app)
    assert (record.issuer, record.subject, record.joined_by) == (None, None, None)
    assert (record.name, record.email) == ("Tom Price", f"tom.price@{D}")
    separate = person_where(app, Person.subject == "u-mallory")
    assert separate.id != entry_id and separate.name == "Mallory Evans"
    [event] = events(app, "identity_join_undone")
    assert event.details == {"person": entry_id, "new_person": separate.id, "by": "email"}
    # Mallory's visit moved with her account: her pages are her own record's now.
    assert not sees_team(mallory)
    assert "Mallory" in mallory.get("/").get_data(as_text=True)
    real = launched("u-tom")  # Tom's own first launch joins his free entry
    assert tom(app).subject == "u-tom" and not sees_team(real)  # by e-mail: HR confirms
    assert hr_post(hr, entry_id, "confirm").status_code == 302
    assert sees_team(real)


def test_a_join_with_quiz_records_since_cannot_be_undone_here(
    app: Flask, council: None, runner: FlaskCliRunner, launched: Any
) -> None:
    set_rule(runner, "email")
    mallory = launched("u-mallory")
    read_all(mallory)
    start_quiz(mallory)
    entry_id = tom(app).id
    hr = launched("u-priya")
    kept = hr_post(hr, entry_id, "undo")
    assert kept.location == f"/hr/identities?done=has-records&kept={entry_id}"
    assert "cannot be undone here" in hr.get(kept.location).get_data(as_text=True)
    assert tom(app).subject == "u-mallory" and events(app, "identity_join_undone") == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/hr/identities"),
        ("post", "/hr/identities/{id}/confirm"),
        ("post", "/hr/identities/{id}/undo"),
        ("post", "/hr/identities/{id}/reviewed"),
    ],
)
@pytest.mark.parametrize("user", ["u-aisha", "u-tom"], ids=["learner", "manager"])
def test_only_hr_reviews_identities(
    app: Flask, council: None, launched: Any, method: str, path: str, user: str
) -> None:
    client = launched(user)
    url = path.format(id=tom(app).id)
    if method == "get":
        response = client.get(url)
    else:
        response = client.post(url, data={"csrf_token": a_token(client)})
    assert response.status_code == 403
    assert tom(app).join_confirmed_at is not None or tom(app).joined_by is None


@pytest.mark.parametrize(
    "path",
    ["/hr/identities/{id}/confirm", "/hr/identities/{id}/rename", "/hr/identities/999999/undo"],
    ids=["already-confirmed", "unknown-action", "unknown-person"],
)
def test_hr_actions_on_nothing_to_review_are_not_found(
    app: Flask, council: None, launched: Any, path: str
) -> None:
    launched("u-tom")  # joined by ID number: confirmed at once
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)  # nothing to review: no form there
    response = hr.post(path.format(id=tom(app).id), data={"csrf_token": csrf(page)})
    assert response.status_code == 404


def test_hr_of_another_organisation_cannot_touch_a_join(
    app: Flask, council: None, runner: FlaskCliRunner, launched: Any
) -> None:
    set_rule(runner, "email")
    launched("u-mallory")
    entry_id = tom(app).id
    with app.app_context():
        other = Organisation(name="Another Council")
        db.session.add(other)
        db.session.flush()
        now = datetime.now(UTC)
        for action in (identities.confirm_join, identities.undo_join, identities.clash_reviewed):
            with pytest.raises(identities.NotForReview):
                action(db.session(), other.id, entry_id, now, actor_person_id=entry_id)
        db.session.rollback()
    assert tom(app).join_confirmed_at is None and tom(app).subject == "u-mallory"


def test_the_settings_page_changes_the_join_rule(app: Flask, council: None, launched: Any) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    assert "lis_person_sourcedid" in page and 'value="sourcedid" checked' in page
    values = {
        "validity_months": "12",
        "renewal_window_days": "30",
        "renewal_basis": "expiry",
        "due_from": "assignment",
        "due_days": "28",
        "retention_years": "6",
        "retention_years_childrens": "25",
        "report_target_percent": "95",
        "report_councillor_names": "hidden",
        "report_day": "0",
        "report_period": "quarter",
    }
    for bad in ("", "name"):
        refused = hr.post(
            "/hr/settings", data={"csrf_token": csrf(page), **values, "roster_join": bad}
        )
        assert refused.status_code == 302  # PRG: the settings page shows why, once
        assert "govuk-error-summary" in hr.get(refused.location).get_data(as_text=True)
    saved = hr.post(
        "/hr/settings", data={"csrf_token": csrf(page), **values, "roster_join": "email"}
    )
    assert saved.location == "/hr/settings?saved=1"
    [change] = events(app, "config_change")
    assert change.details == {"setting": "roster_join", "from": "sourcedid", "to": "email"}
    assert change.actor_person_id is not None


def test_the_demo_roster_and_lms_join_under_the_default_rule(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, launched: Any
) -> None:
    """scripts/demo imports this roster and launches the demo LMS's people: nothing to do
    first, Tom sees his team (their ID numbers are their employee IDs)."""
    roster = Path(__file__).parents[2] / "scripts" / "demo_roster.csv"
    result = runner.invoke(args=["roster", "import", str(roster), "--org", ORG])
    assert result.exit_code == 0, result.output
    assert sees_team(launched("u-tom"))
    for user in ("u-aisha", "u-lee", "u-priya", "u-jo"):
        launched(user)
        assert person_where(app, Person.subject == user).employee_id is not None
