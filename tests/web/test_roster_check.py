"""HR's roster check page: it names who is new, who leaves and what changes for whom, and
its one button imports exactly the checked file, once, for the HR person who checked it,
within UPLOAD_LIFETIME."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app.clock import utcnow
from app.db import db
from app.hr.roster import PER_PAGE
from app.models import AuditEvent, Person, RosterUpload
from app.services import roster
from scripts.demo_lms.platform import DemoPlatform
from tests.learner_flow import csrf
from tests.web.test_hr_dashboard import add_person, other_organisation
from tests.web.test_roster import GOOD, HEADER, ORG, people, roster_file

# Against GOOD imported: Aisha moves to Planning under Lee, Tom leaves (and with him Aisha's
# manager), Lee is unchanged, and a new person whose name is markup arrives.
NEXT = (
    "E1,Aisha,Khan,aisha.khan@demo-council.example,Place,Planning,E2,04/01/2021,Officer,x\n"
    "E2,Lee,Morgan,Lee.Morgan@demo-council.example,Place,Planning,,"
    "2022-09-12,Planner,\n"
    "E4,<b>Zoë</b>,O'Neil,zoe@demo-council.example,Place,Housing,E2,01/12/2026,Officer,\n"
)


def upload(hr: FlaskClient, body: str, filename: str = "roster.csv") -> Any:
    page = hr.get("/hr/roster").get_data(as_text=True)
    return hr.post(
        "/hr/roster",
        content_type="multipart/form-data",
        data={
            "csrf_token": csrf(page),
            "file": (io.BytesIO((HEADER + body).encode()), filename),
        },
    )


def checked(hr: FlaskClient, body: str) -> str:
    """Upload a file; the address of its check page."""
    response = upload(hr, body)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert re.fullmatch(r"/hr/roster/check/[\w-]{40,}", location), location
    return location


def press_import(hr: FlaskClient, check_page: str) -> Any:
    token = csrf(hr.get("/hr/roster").get_data(as_text=True))
    return hr.post(check_page, data={"csrf_token": token})


def imports(app: Flask) -> int:
    """Imports made on the page (the fixture's own, by the command, has no person)."""
    with app.app_context():
        return (
            db.session.scalar(
                select(func.count()).where(
                    AuditEvent.action == "roster_import", AuditEvent.actor_person_id.isnot(None)
                )
            )
            or 0
        )


def uploads(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RosterUpload)) or 0


@pytest.fixture
def hr(
    app: Flask, registered: DemoPlatform, launched: Any, runner: FlaskCliRunner, tmp_path: Path
) -> FlaskClient:
    """Priya (HR), with GOOD imported."""
    result = runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, GOOD)), "--org", ORG]
    )
    assert result.exit_code == 0, result.output
    client: FlaskClient = launched("u-priya")
    return client


def has_button(html: str, text: str) -> bool:
    return re.search(rf"<button[^>]*>\s*{re.escape(text)}\s*</button>", html) is not None


def section(html: str, heading_id: str) -> str:
    match = re.search(rf'<h2 class="govuk-heading-m" id="{heading_id}">(.*?)(?=<h2 )', html, re.S)
    assert match, f"no section {heading_id}"
    return match.group(1)


def test_the_check_page_names_the_new_the_leaving_and_what_changes_for_whom(
    app: Flask, hr: FlaskClient
) -> None:
    page = hr.get(checked(hr, NEXT))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<title>Check the roster" in html and "Nothing has been changed yet" in html
    new = section(html, "new")
    # A cell of the file is outside text: shown, never run.
    assert "&lt;b&gt;Zoë&lt;/b&gt; O&#39;Neil" in new and "<b>Zoë</b>" not in html
    assert "Employee ID E4, zoe@demo-council.example" in new
    assert "Tom Price" in section(html, "leaving") and "Aisha" not in section(html, "leaving")
    changed = section(html, "changed")
    assert "Aisha Khan" in changed and "Lee Morgan" in changed
    assert re.search(
        r"Department: Housing <span aria-hidden=\"true\">→</span>"
        r"<span class=\"govuk-visually-hidden\">changes to</span> Planning",
        changed,
    )
    assert "Manager: Tom Price" in changed and "Lee Morgan</p>" in changed
    # Lee's manager was Tom (by e-mail): now nobody.
    assert re.search(
        r"Manager: Tom Price .*?changes to</span> <span class=\"govuk-hint[^\"]*\">"
        r"none</span>",
        changed,
        re.S,
    )
    # Nothing is written by checking.
    assert people(app)["E1"].department == "Housing" and "E4" not in people(app)
    assert has_button(html, "Import the roster")


def test_the_page_says_which_columns_are_read(hr: FlaskClient) -> None:
    html = hr.get("/hr/roster").get_data(as_text=True)
    assert "Other columns are ignored" not in html
    for column in ("Job title", "Elected member", "Children&#39;s workforce", "Start date"):
        assert (
            f'<td class="govuk-table__cell">{column}</td>'
            in html.replace(
                '<th scope="row" class="govuk-table__header">', '<td class="govuk-table__cell">'
            ).replace("</th>", "</td>")
            or column in html
        )
    assert "Any other column is not read." in html


def test_one_button_imports_the_checked_file_once(app: Flask, hr: FlaskClient) -> None:
    check_page = checked(hr, NEXT)
    done = press_import(hr, check_page)
    assert done.status_code == 302 and done.headers["Location"] == "/hr/roster/imported"
    result = hr.get("/hr/roster/imported").get_data(as_text=True)
    assert "Roster imported" in result and "1 new, 1 updated, 1 marked as leavers" in result
    found = people(app)
    assert found["E1"].department == "Planning" and found["E1"].manager_id == found["E2"].id
    assert not found["E3"].active and found["E4"].first_name == "<b>Zoë</b>"
    assert imports(app) == 1 and uploads(app) == 0
    # Used: the page and the button are gone, and a second press imports nothing.
    again = press_import(hr, check_page)
    assert again.status_code == 302 and again.headers["Location"] == check_page
    gone = hr.get(check_page)
    assert gone.status_code == 404 and "This check has ended" in gone.get_data(as_text=True)
    assert imports(app) == 1


def test_rows_with_problems_are_listed_and_the_button_skips_them(
    app: Flask, hr: FlaskClient
) -> None:
    check_page = checked(hr, NEXT + "E9,Bad,Row,nope,Place,Housing,,01/01/2020,,\n")
    html = hr.get(check_page).get_data(as_text=True)
    assert "is not an e-mail address" in html and "1 row has problems and will be skipped" in html
    assert has_button(html, "Import the good rows and skip 1 row with problems")
    press_import(hr, check_page)
    found = people(app)
    assert "E4" in found and "E9" not in found


def _someone_elses(app: Flask, *, other_org: bool) -> str:
    """A checked file of another HR person (of this organisation, or of another)."""
    with app.app_context():
        org = other_organisation(app) if other_org else None
        person = Person(organisation_id=org or people(app)["E1"].organisation_id, name="Other HR")
        db.session.add(person)
        db.session.flush()
        data = (HEADER + NEXT).encode()
        planned = roster.plan(
            db.session(), person.organisation_id, roster.read_file(data, "roster.csv")
        )
        kept = roster.keep(
            db.session(), person.organisation_id, person.id, "roster.csv", data, planned, utcnow()
        )
        db.session.commit()
        return f"/hr/roster/check/{kept.token}"


@pytest.mark.parametrize(
    "other_org", [False, True], ids=["same-organisation", "other-organisation"]
)
def test_another_hr_persons_checked_file_is_not_shown_or_imported(
    app: Flask, hr: FlaskClient, other_org: bool
) -> None:
    check_page = _someone_elses(app, other_org=other_org)
    shown = hr.get(check_page)
    assert shown.status_code == 404 and "Zoë" not in shown.get_data(as_text=True)
    refused = press_import(hr, check_page)
    assert refused.status_code == 302 and refused.headers["Location"] == check_page
    assert "E4" not in people(app) and imports(app) == 0
    assert uploads(app) == 1  # still theirs


@pytest.mark.parametrize(
    ("after", "imported"),
    [(timedelta(minutes=29, seconds=59), True), (timedelta(minutes=30), False)],
    ids=["29m59s", "30m"],
)
def test_a_checked_file_expires_after_30_minutes(
    app: Flask, hr: FlaskClient, travel: Any, after: timedelta, imported: bool
) -> None:
    check_page = checked(hr, NEXT)
    travel(seconds=after.total_seconds())
    assert hr.get(check_page).status_code == (200 if imported else 404)
    press_import(hr, check_page)
    assert ("E4" in people(app)) is imported and imports(app) == int(imported)


def test_expired_files_are_removed_when_the_next_is_checked(
    app: Flask, hr: FlaskClient, travel: Any
) -> None:
    checked(hr, NEXT)
    travel(minutes=30)
    checked(hr, GOOD)
    assert uploads(app) == 1


def test_the_import_is_refused_when_the_roster_changed_after_the_check(
    app: Flask, hr: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    check_page = checked(hr, NEXT)
    other = GOOD.replace("Place,Housing,E3,04/01/2021", "Resources,Finance,E3,04/01/2021")
    runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, other, "b.csv")), "--org", ORG]
    )
    refused = press_import(hr, check_page)
    assert refused.status_code == 302 and refused.headers["Location"] == check_page
    html = hr.get(check_page).get_data(as_text=True)
    assert "have changed since this file was checked" in html and not has_button(
        html, "Import the roster"
    )
    assert "E4" not in people(app) and people(app)["E1"].department == "Finance"


def test_changes_to_people_the_file_does_not_touch_do_not_stop_the_import(
    app: Flask, hr: FlaskClient
) -> None:
    """Someone else opening the module for the first time meanwhile changes nothing the
    check showed: the import goes ahead."""
    check_page = checked(hr, NEXT)
    add_person(app, name="Newly Launched", email="new.person@demo-council.example")
    assert press_import(hr, check_page).headers["Location"] == "/hr/roster/imported"
    assert "E4" in people(app)


def test_each_list_is_paged(app: Flask, hr: FlaskClient) -> None:
    many = "".join(
        f"N{n:02},Person,Number {n:02},n{n}@demo-council.example,Place,Housing,,01/01/2026,,\n"
        for n in range(PER_PAGE + 5)
    )
    check_page = checked(hr, GOOD + many)
    first = hr.get(check_page).get_data(as_text=True)
    new = section(first, "new")
    assert "Showing 1 to 25 of 30." in new and "Number 24" in new and "Number 25" not in new
    assert f'href="{check_page}?new=2#new"' in new
    second = section(hr.get(f"{check_page}?new=2").get_data(as_text=True), "new")
    assert "Showing 26 to 30 of 30." in second and "Number 29" in second
    assert "Number 00" not in second


def test_a_missing_or_unreadable_file_comes_back_to_the_form_with_its_error(
    app: Flask, hr: FlaskClient
) -> None:
    page = hr.get("/hr/roster").get_data(as_text=True)
    empty = hr.post("/hr/roster", data={"csrf_token": csrf(page)})
    assert empty.status_code == 302 and empty.headers["Location"] == "/hr/roster"
    html = hr.get("/hr/roster").get_data(as_text=True)
    assert "<title>Error: Import the roster" in html and "Choose the roster file" in html
    # Shown once: a refresh shows the form afresh.
    assert "Error:" not in hr.get("/hr/roster").get_data(as_text=True)
    assert upload(hr, "").status_code == 302
    assert "The file has headings but no rows of people." in hr.get("/hr/roster").get_data(
        as_text=True
    )
    assert uploads(app) == 0
